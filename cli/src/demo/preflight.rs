//! Before anything starts: does each service answer, and speak its protocol? A missing one is
//! named with its address and the command that starts it on a development machine.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use sqlx::Connection as _;
use tokio::net::TcpStream;

/// How long a service may take to accept a connection or answer its handshake.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A service the demo needs.
pub struct Service {
    name: &'static str,
    url: String,
    default_port: u16,
    /// How to start it on a development machine (Debian packages, as in the README).
    start: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Postgres,
    RabbitMq,
    Redis,
}

impl Service {
    pub fn postgres(url: &str) -> Self {
        Self {
            name: "PostgreSQL",
            url: url.to_owned(),
            default_port: 5432,
            start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            kind: Kind::Postgres,
        }
    }

    pub fn rabbitmq(url: &str) -> Self {
        Self {
            name: "RabbitMQ",
            url: url.to_owned(),
            default_port: 5672,
            start: "rabbitmq-server -detached",
            kind: Kind::RabbitMq,
        }
    }

    pub fn redis(url: &str) -> Self {
        Self {
            name: "Redis",
            url: url.to_owned(),
            default_port: 6379,
            start: "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no",
            kind: Kind::Redis,
        }
    }

    /// `host:port` of the URL, or a message saying why there is none.
    fn address(&self) -> Result<(String, u16), String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("the {} URL is not valid: {e}", self.name))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("the {} URL names no host", self.name))?;
        Ok((
            host.trim_matches(['[', ']']).to_owned(),
            url.port().unwrap_or(self.default_port),
        ))
    }

    /// `None` if the service answers its protocol, else what is wrong and how to fix it.
    async fn problem(&self) -> Option<String> {
        let (host, port) = match self.address() {
            Ok(address) => address,
            Err(problem) => return Some(problem),
        };
        let at = format!("{} at {host}:{port}", self.name);
        let local = matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1");
        let hint = if local {
            format!("; start it with `{}`", self.start)
        } else {
            String::new()
        };
        match tokio::time::timeout(TIMEOUT, TcpStream::connect((host.as_str(), port))).await {
            Err(_) => {
                return Some(format!(
                    "{at} did not accept a connection within {} s{hint}",
                    TIMEOUT.as_secs()
                ));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Some(format!("{at} refused the connection{hint}"));
            }
            Ok(Err(e)) => return Some(format!("{at} cannot be reached: {e}{hint}")),
            Ok(Ok(_)) => {}
        }
        let handshake = match self.kind {
            Kind::Postgres => postgres(&self.url).await,
            Kind::RabbitMq => rabbitmq(&self.url).await,
            Kind::Redis => redis(&self.url).await,
        };
        handshake
            .err()
            .map(|e| format!("{at} accepted the connection but not the demo's login: {e}"))
    }
}

/// Every problem with the services, all at once (empty: all answer).
pub async fn check(services: &[Service]) -> Vec<String> {
    let mut problems = Vec::new();
    for service in services {
        if let Some(problem) = service.problem().await {
            problems.push(problem);
        }
    }
    problems
}

/// Logs into the server's `postgres` database (the demo's own may not exist yet).
async fn postgres(url: &str) -> Result<(), String> {
    let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|e| format!("{e}"))?;
    let options = options.database("postgres");
    let mut conn = tokio::time::timeout(TIMEOUT, sqlx::PgConnection::connect_with(&options))
        .await
        .map_err(|_| "the login timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    ember_core::store::ping(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

/// Opens an AMQP connection (credentials, virtual host).
async fn rabbitmq(url: &str) -> Result<(), String> {
    let connect = Connection::connect(url, ConnectionProperties::default());
    let connection = tokio::time::timeout(TIMEOUT, connect)
        .await
        .map_err(|_| "the AMQP handshake timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let _ = connection.close(200, "preflight".into()).await;
    Ok(())
}

/// PING.
async fn redis(url: &str) -> Result<(), String> {
    use deadpool_redis::redis;
    let pool = deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(TIMEOUT, pool.get())
        .await
        .map_err(|_| "the connection timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
