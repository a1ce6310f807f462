//! The binary's documentation subcommands: `wsppsrv completions SHELL` and
//! `wsppsrv man` print and exit instead of serving (plain `wsppsrv` still serves: the
//! other tests' servers are the library's, `cli` checks the parse).

use std::process::Command;

fn wsppsrv(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_wsppsrv"))
        .args(args)
        .env("WSPP_ADDR", "127.0.0.1:0")
        .output()
        .expect("wsppsrv runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn the_docs_subcommands_print_and_exit() {
    let fish = wsppsrv(&["completions", "fish"]);
    assert!(
        fish.contains("complete -c wsppsrv") && fish.contains("-l ping-interval"),
        "{fish}"
    );
    let man = wsppsrv(&["man"]);
    assert!(
        man.contains(".TH wsppsrv 1") && man.contains("\\-\\-max\\-connections"),
        "{man}"
    );
}
