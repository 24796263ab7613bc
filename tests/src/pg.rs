//! A throwaway local PostgreSQL: the system's `postgresql` binaries (installed with apt when
//! missing), a fresh cluster under /tmp, trust auth on 127.0.0.1, durability off for speed.
//! As root, `initdb` refuses to run, so the cluster is created and started as `postgres`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, step};

#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    pub url: String,
    as_postgres: bool,
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// The PostgreSQL binaries, installing Debian's `postgresql` package if needed.
fn binaries() -> Result<PathBuf> {
    if let Some(bin) = find_bin() {
        return Ok(bin);
    }
    if !is_root() {
        return Err("PostgreSQL is not installed; run `sudo apt-get install -y postgresql` (or run as root)".into());
    }
    step("apt-get update", Command::new("apt-get").args(["update", "-qq"]))?;
    step(
        "install PostgreSQL",
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    find_bin().ok_or_else(|| "PostgreSQL installed but initdb not found under /usr/lib/postgresql".into())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl Postgres {
    /// Creates a fresh cluster in `data` (removing what was there) and starts it on `port`.
    pub fn start(data: &Path, port: u16) -> Result<Postgres> {
        let bin = binaries()?;
        let as_postgres = is_root();
        if data.join("postmaster.pid").exists() {
            // A cluster from an interrupted earlier run: stop it before reusing its directory.
            let old = Postgres { bin: bin.clone(), data: data.to_path_buf(), url: String::new(), as_postgres };
            old.stop();
        }
        let _ = std::fs::remove_dir_all(data);
        std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
        if as_postgres {
            step("chown data directory", Command::new("chown").args(["postgres:postgres"]).arg(data))?;
        }
        let pg = Postgres {
            bin,
            data: data.to_path_buf(),
            url: format!("postgres://postgres@127.0.0.1:{port}/vane"),
            as_postgres,
        };
        pg.run("initdb", &["-D", &pg.data_str(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            pg.data_str()
        );
        let log = pg.data.join("server.log");
        pg.run("pg_ctl", &["-D", &pg.data_str(), "-o", &options, "-l", &log.display().to_string(), "-w", "start"])?;
        pg.run("createdb", &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "vane"])?;
        eprintln!("PostgreSQL ready at {}", pg.url);
        Ok(pg)
    }

    fn data_str(&self) -> String {
        self.data.display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir("/tmp");
        let out = cmd.output().map_err(|e| format!("{tool}: cannot start: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn stop(&self) {
        let _ = self.run("pg_ctl", &["-D", &self.data_str(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the (stopped) cluster again on its port, for outage tests.
    pub fn restart(&self, port: u16) -> Result {
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.data_str()
        );
        let log = self.data.join("server.log");
        self.run("pg_ctl", &["-D", &self.data_str(), "-o", &options, "-l", &log.display().to_string(), "-w", "start"])
    }
}

impl Drop for Postgres {
    /// Stops the server and deletes the throwaway cluster.
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
