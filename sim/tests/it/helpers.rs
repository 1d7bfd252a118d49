//! Test harness: a simulator per test on a free loopback port, an HTTP client, and a webhook
//! receiver that records what it is sent and answers from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hubspot_sim::{
    AppType, InstallTokens, PortalInfo, PortalSpec, SimConfig, SimHandle, SimServer,
};

pub(crate) struct TestSim {
    pub(crate) sim: SimHandle,
    pub(crate) http: reqwest::Client,
}

/// A simulator with a frozen clock at a fixed time, so rate-limit windows are exact.
pub(crate) async fn start() -> TestSim {
    start_with(|_| {}).await
}

pub(crate) async fn start_with(f: impl FnOnce(&mut SimConfig)) -> TestSim {
    let mut cfg = SimConfig {
        start_ms: Some(1_767_225_600_000),
        clock_speed: 0.0,
        workers: 1,
        ..SimConfig::default()
    };
    f(&mut cfg);
    let sim = SimServer::start(cfg).await.expect("sim starts");
    // The sim installed the ring provider if none was (docs/dependencies.md, "rustls"), so clients build.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestSim { sim, http }
}

impl TestSim {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    /// A public-app portal with `contacts` contacts, installed; returns it and its tokens.
    pub(crate) fn installed_portal(&self, contacts: usize) -> (PortalInfo, InstallTokens) {
        let p = self.sim.control().create_portal(PortalSpec {
            contacts,
            ..PortalSpec::default()
        });
        let t = self.sim.control().install(p.id).expect("install");
        (p, t)
    }

    pub(crate) fn private_portal(&self, burst: u32, contacts: usize) -> (PortalInfo, String) {
        let p = self.sim.control().create_portal(PortalSpec {
            contacts,
            app_type: AppType::private_tier(burst),
            ..PortalSpec::default()
        });
        let t = p.private_token.clone().expect("private token");
        (p, t)
    }

    pub(crate) async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn patch(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }
}

/// Reads a body as JSON.
pub(crate) async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.expect("json body")
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) uri: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) delay: Duration,
    pub(crate) retry_after: Option<String>,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }
}

#[derive(Default)]
struct ReceiverState {
    got: Vec<Received>,
    script: VecDeque<Reply>,
}

/// A webhook receiver on a free loopback port.
pub(crate) struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    pub(crate) url: String,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub(crate) async fn start(path: &str, script: Vec<Reply>) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            got: Vec::new(),
            script: script.into(),
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).default_service(web::to(
                |req: HttpRequest, body: web::Bytes, st: web::Data<Mutex<ReceiverState>>| async move {
                    let reply = {
                        let mut s = st.lock().unwrap();
                        s.got.push(Received {
                            uri: req.uri().to_string(),
                            headers: req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect(),
                            body: body.to_vec(),
                        });
                        s.script.pop_front().unwrap_or(Reply::status(200))
                    };
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
                    if let Some(ra) = reply.retry_after {
                        b.insert_header(("Retry-After", ra));
                    }
                    b.finish()
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind receiver");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            state,
            url: format!("http://{addr}{path}"),
            server: handle,
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }

    pub(crate) async fn stop(self) {
        self.server.stop(false).await;
    }
}
