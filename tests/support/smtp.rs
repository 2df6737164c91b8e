//! A real SMTP server: Debian's aiosmtpd (python3-aiosmtpd, installed by scripts/prereqs) on
//! 127.0.0.1 with STARTTLS or implicit TLS and AUTH, and a throwaway certificate for 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use serde_json::Value;

use crate::process::{ServerProcess, Stop, lines};

/// A received email: its envelope and raw message.
#[derive(Debug)]
pub struct Mail {
    pub envelope: Value,
    pub raw: String,
}

/// aiosmtpd running `smtp_server.py`, which stores each message in a maildir.
pub struct SmtpServer {
    _process: ServerProcess,
    pub port: u16,
    pub cert: PathBuf,
    maildir: PathBuf,
}

impl SmtpServer {
    /// `mode` is `starttls` or `tls`; AUTH wants `user`/`password`.
    pub fn start(dir: &Path, mode: &str, user: &str, password: &str) -> Self {
        let cert = dir.join("smtp-cert.pem");
        let key = dir.join("smtp-key.pem");
        self_signed(&cert, &key);
        let maildir = dir.join("maildir");
        std::fs::create_dir_all(&maildir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp_server.py");
        // The script takes a free port from the kernel, releases it and has aiosmtpd bind it;
        // a parallel test can take it in between, and then the script exits without printing
        // a port: started again, it takes another.
        let mut printed = String::new();
        for _ in 0..5 {
            let mut process = ServerProcess::spawn(
                Command::new("/usr/bin/python3")
                    .arg(&script)
                    .args(["--mode", mode, "--user", user, "--password", password])
                    .arg("--cert")
                    .arg(&cert)
                    .arg("--key")
                    .arg(&key)
                    .arg("--maildir")
                    .arg(&maildir)
                    .stdout(Stdio::piped())
                    .stderr(std::fs::File::create(dir.join("smtp-server.log")).unwrap()),
                Stop::Terminate,
                "/usr/bin/python3 with python3-aiosmtpd must be installed (scripts/prereqs installs it)",
            );
            // It prints the port once aiosmtpd's controller has seen its own server answer.
            match lines(process.take_stdout().unwrap()).recv_timeout(Duration::from_secs(10)) {
                Ok(line) => match line.trim().parse() {
                    Ok(port) => {
                        return Self {
                            _process: process,
                            port,
                            cert,
                            maildir,
                        };
                    }
                    Err(_) => panic!("the SMTP server printed {line:?} instead of its port"),
                },
                Err(RecvTimeoutError::Disconnected) => {
                    printed = std::fs::read_to_string(dir.join("smtp-server.log")).unwrap_or_default();
                }
                Err(RecvTimeoutError::Timeout) => panic!("the SMTP server did not start within 10s"),
            }
        }
        panic!("the SMTP server did not start: {printed}");
    }

    pub fn mails(&self) -> Vec<Mail> {
        let mut n = 1;
        let mut out = Vec::new();
        while let Ok(raw) = std::fs::read_to_string(self.maildir.join(format!("{n}.eml"))) {
            let envelope =
                serde_json::from_str(&std::fs::read_to_string(self.maildir.join(format!("{n}.json"))).unwrap())
                    .unwrap();
            out.push(Mail { envelope, raw });
            n += 1;
        }
        out
    }
}

/// A CA-less certificate for 127.0.0.1 (subjectAltName IP) and its key.
fn self_signed(cert: &Path, key: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "2",
        ])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed: the SMTP tests make a TLS certificate");
    assert!(status.success(), "openssl req failed");
}
