//! wsppsrv's upgrade check (`wsppsrv::upgrade::check`) on a request built from any
//! method, version, header names and values. It refuses or accepts, never panics, and
//! what it accepts has a key to answer.

#![no_main]

use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Version};
use libfuzzer_sys::fuzz_target;
use wsppsrv::Config;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let method = lines
        .next()
        .and_then(|m| Method::from_bytes(m).ok())
        .unwrap_or(Method::GET);
    let version = [
        Version::HTTP_09,
        Version::HTTP_10,
        Version::HTTP_11,
        Version::HTTP_2,
    ][usize::from(choice & 3)];
    let mut request = Request::builder()
        .method(method)
        .version(version)
        .uri("/pingpong");
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value.trim_ascii()),
        ) else {
            continue;
        };
        request = request.header(name, value);
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let mut config = Config::default();
    if choice & 4 != 0 {
        config.allowed_origins = vec!["https://example.test".into()];
    }
    if let Ok(accept) = wsppsrv::upgrade::check(&request, &config) {
        assert_eq!(accept.len(), 28, "an accept key is 20 bytes in base64");
        assert!(request.version() >= Version::HTTP_11);
        assert_eq!(
            request
                .headers()
                .get_all("sec-websocket-key")
                .iter()
                .count(),
            1
        );
    }
});
