//! Shell completions and man pages, from the real binary (and, for wsppsrv, from the
//! same library call its binary makes): non-empty, naming the real flags, and
//! accepted by the tools that read them where they are installed.

use std::process::Output;

use clap::CommandFactory;
use wsppsrv::docs::{DocsCommand, Shell};

use crate::support::{run_binary, temp_file};

fn stdout(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// Whether `program` runs here (`bash`, `man`): the checks that need it are skipped
/// where it is missing, the text checks still run.
fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn wsppsrv_docs(docs: DocsCommand) -> String {
    let mut out = Vec::new();
    docs.run(wsppsrv::cli::Args::command(), &mut out)
        .expect("generated");
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn completions_name_the_real_flags_and_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        // How each script names a long flag.
        let flag = |name: &str| match shell {
            "fish" => format!("-l {name}"),
            _ => format!("--{name}"),
        };
        let script = stdout(&run_binary(&["completions", shell]).await);
        for name in ["server", "no-local-server", "count", "busy-poll"] {
            assert!(script.contains(&flag(name)), "{shell}: no {name}");
        }
        assert!(script.contains("open-close"), "{shell}: no open-close");
        let server = wsppsrv_docs(DocsCommand::Completions {
            shell: shell.parse::<Shell>().expect("a shell"),
        });
        for name in ["ping-interval", "tls-self-signed"] {
            assert!(server.contains(&flag(name)), "wsppsrv {shell}: no {name}");
        }
        assert!(server.contains("completions"), "wsppsrv {shell}");
    }
    let bad = run_binary(&["completions", "tcsh"]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn the_bash_completions_are_valid_bash() {
    if !installed("bash") {
        return;
    }
    let client = stdout(&run_binary(&["completions", "bash"]).await);
    let server = wsppsrv_docs(DocsCommand::Completions { shell: Shell::Bash });
    for (name, script) in [("wsppclient", client), ("wsppsrv", server)] {
        let path = temp_file(".bash", &script);
        let check = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("bash runs");
        assert!(
            check.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[tokio::test]
async fn the_man_pages_render_with_every_flag() {
    let client = stdout(&run_binary(&["man"]).await);
    let server = wsppsrv_docs(DocsCommand::Man { dir: None });
    for (name, page, flags) in [
        (
            "wsppclient",
            &client,
            &["--server", "--no-local-server", "--tls"][..],
        ),
        (
            "wsppsrv",
            &server,
            &["--addr", "--ping-interval", "--busy-poll"],
        ),
    ] {
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
        // roff writes a hyphen as `\-`.
        for flag in flags {
            assert!(
                page.contains(&flag.replace('-', "\\-")),
                "{name}: no {flag}"
            );
        }
        if !installed("man") {
            continue;
        }
        let path = temp_file(".1", page);
        let rendered = std::process::Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("LC_ALL", "C")
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs");
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(
            rendered.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        for flag in flags {
            assert!(text.contains(flag), "{name}: {flag} not rendered:\n{text}");
        }
    }
}

#[tokio::test]
async fn man_dir_writes_a_page_per_subcommand() {
    let dir = temp_file("-man", "");
    std::fs::remove_file(&dir).expect("make room for the directory");
    let dir_arg = dir.to_string_lossy().into_owned();
    let listed = stdout(&run_binary(&["man", "--dir", &dir_arg]).await);
    let ping = dir.join("wsppclient-ping.1");
    assert!(listed.contains(&ping.display().to_string()), "{listed}");
    let page = std::fs::read_to_string(&ping).expect("the ping page");
    assert!(
        page.contains("\\-\\-count") && page.contains("\\-\\-json"),
        "{page}"
    );
    assert!(dir.join("wsppclient.1").is_file());
}
