//! Debian's nginx as the L7 alternative: a reverse proxy in a node's host namespace that adds
//! `X-Forwarded-For`, with its own config, pid file, logs and temp paths in a private folder.
//! Only ever started inside a namespace netsim created.

use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

pub struct Nginx {
    child: Child,
    dir: PathBuf,
}

fn fail(detail: impl std::fmt::Display) -> Error {
    Error::Bench(format!("nginx: {detail}"))
}

/// The whole configuration: `listen` proxies every request to `upstream` (one upstream
/// connection per request, nginx's default), adding the client to `X-Forwarded-For`.
pub fn config(dir: &Path, listen: SocketAddrV4, upstream: SocketAddrV4) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process on;\nuser root root;\nworker_processes auto;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
         \x20   server {{\n        listen {listen};\n        location / {{\n\
         \x20           proxy_pass http://{upstream};\n\
         \x20           proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         \x20       }}\n    }}\n}}\n"
    )
}

impl Nginx {
    /// Start nginx inside `ns` and wait until it accepts on `listen`.
    pub fn start(ns: &Path, listen: SocketAddrV4, upstream: SocketAddrV4) -> Result<Nginx, Error> {
        let dir = std::env::temp_dir().join(format!("netsim-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, listen, upstream))
            .map_err(|e| fail(format!("{}: {e}", conf.display())))?;
        let out = std::fs::File::create(dir.join("stderr.log")).map_err(|e| fail(e.to_string()))?;
        let (d, c) = (dir.clone(), conf.clone());
        let child = crate::netns::run_in(ns, move || {
            // The child is forked from this thread, so it lives in `ns`.
            Command::new(if Path::new("/usr/sbin/nginx").exists() {
                "/usr/sbin/nginx"
            } else {
                "nginx"
            })
            .arg("-p")
            .arg(&d)
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-c")
            .arg(&c)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .map_err(|e| fail(format!("spawn: {e} (apt-get install nginx)")))
        })?;
        let mut n = Nginx { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = n.child.try_wait() {
                let log = std::fs::read_to_string(n.dir.join("stderr.log")).unwrap_or_default();
                return Err(fail(format!("exited at start ({st}): {}", log.trim())));
            }
            let up = crate::netns::run_in(ns, move || {
                Ok(
                    TcpStream::connect_timeout(&SocketAddr::V4(listen), Duration::from_millis(500))
                        .is_ok(),
                )
            })?;
            if up {
                return Ok(n);
            }
            if Instant::now() > deadline {
                return Err(fail(format!("not listening on {listen} after 20 s")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Fast shutdown (SIGTERM to the master, which stops its workers); SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

#[cfg(test)]
#[path = "nginx_tests.rs"]
mod tests;
