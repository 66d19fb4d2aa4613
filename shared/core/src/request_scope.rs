//! The request being served, for what records its answer or its effects
//! (problem answers, the audit trail) without threading it through every
//! call. Set by the HTTP layer for the handler's task; absent elsewhere
//! (the workflow, the watchdog, the command line).

#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub id: String,
    pub path: String,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// Runs `f` as the handling of `info`.
pub async fn scope<F: std::future::Future>(info: RequestInfo, f: F) -> F::Output {
    REQUEST.scope(info, f).await
}

/// The request being handled in this task, if any.
pub fn current() -> Option<RequestInfo> {
    REQUEST.try_with(RequestInfo::clone).ok()
}
