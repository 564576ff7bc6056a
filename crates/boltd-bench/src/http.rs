//! JSON over HTTP for the load generator's workers: one keep-alive agent per thread, so `K`
//! workers hold `K` connections to the daemon and do not reconnect for every request.

use std::time::Duration;

use serde_json::Value;

thread_local! {
    static AGENT: ureq::Agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .max_idle_connections_per_host(4)
        .build();
}

fn answer(res: Result<ureq::Response, ureq::Error>) -> Result<Value, String> {
    match res {
        Ok(r) => r.into_json::<Value>().map_err(|e| format!("bad JSON answer: {e}")),
        Err(ureq::Error::Status(code, r)) => {
            Err(format!("HTTP {code}: {}", r.into_string().unwrap_or_default()))
        }
        Err(e) => Err(format!("request failed: {e}")),
    }
}

/// `POST url` with a JSON body and the API token `token`, on this thread's agent.
pub fn post(url: &str, token: &str, body: &Value) -> Result<Value, String> {
    let bearer = format!("Bearer {token}");
    AGENT.with(|a| answer(a.post(url).set("Authorization", &bearer).send_json(body.clone())))
}

/// `GET url` with the API token `token`, on this thread's agent.
pub fn get(url: &str, token: &str) -> Result<Value, String> {
    let bearer = format!("Bearer {token}");
    AGENT.with(|a| answer(a.get(url).set("Authorization", &bearer).call()))
}
