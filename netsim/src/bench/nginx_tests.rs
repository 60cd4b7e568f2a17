use super::*;

#[test]
fn config_adds_forwarded_for_and_keeps_files_private() {
    let c = config(
        Path::new("/tmp/x"),
        "198.18.0.10:9080".parse().unwrap(),
        "198.18.0.10:8080".parse().unwrap(),
    );
    assert!(c.contains("listen 198.18.0.10:9080;"));
    assert!(c.contains("proxy_pass http://198.18.0.10:8080;"));
    assert!(c.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"));
    assert!(c.contains("daemon off;") && c.contains("pid /tmp/x/nginx.pid;"));
}
