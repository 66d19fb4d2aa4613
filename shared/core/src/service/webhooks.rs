//! Webhook endpoints: an organisation registers where it wants to be
//! told about its exports and imports, and reads what was sent there.
//! Making and delivering deliveries is in `webhook_delivery`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::ServiceError;
use super::access::acting_for;
use crate::backoff::Backoff;
use crate::domain::{
    Caller, CreateWebhookRequest, EndpointStatus, FieldError, MAX_WEBHOOK_ENDPOINTS, OrgScope, RotateSecretRequest,
    UpdateWebhookRequest, WebhookDelivery, WebhookEndpoint, WebhookEndpointId, WebhookSecret, WebhookTargets,
    new_secret,
};
use crate::ports::{PortError, WebhookStore};

pub use super::webhook_target::{TargetError, resolve_target};

/// Deliveries listed at most at once.
pub const MAX_DELIVERIES_LISTED: usize = 100;
/// A token naming more organisations than this must say which one it lists.
const MAX_ORGS_LISTED: usize = 20;

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// The waits between attempts: from `first`, doubling, up to `max`,
    /// each between half and all of its ceiling.
    pub retry: Backoff,
    /// A delivery not accepted this long after its event is given up, and
    /// its endpoint disabled.
    pub give_up_after: Duration,
    /// Hosts that may be private and plain http (tests, local development).
    pub targets: WebhookTargets,
    pub max_endpoints: u32,
    /// How long a receiver has to answer one attempt.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry: Backoff::new(Duration::from_secs(60), 2, Duration::from_secs(3600)),
            give_up_after: Duration::from_secs(72 * 3600),
            targets: WebhookTargets::default(),
            max_endpoints: MAX_WEBHOOK_ENDPOINTS,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct WebhookService {
    pub(super) store: Arc<dyn WebhookStore>,
    pub(super) settings: WebhookSettings,
}

/// An endpoint with its new secret, the one time it is shown.
pub struct WithSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

impl WebhookService {
    pub fn new(store: Arc<dyn WebhookStore>, settings: WebhookSettings) -> Self {
        WebhookService { store, settings }
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    pub async fn create(&self, caller: &Caller, request: &CreateWebhookRequest) -> Result<WithSecret, ServiceError> {
        let valid = request.validate(&self.settings.targets).map_err(ServiceError::Validation)?;
        let org_id = acting_for(caller, valid.org_id)?;
        self.check_target(&valid.url).await?;
        let now = Utc::now();
        let secret = new_secret();
        let endpoint = WebhookEndpoint {
            id: WebhookEndpointId::generate(now.date_naive()).to_string(),
            org_id,
            url: valid.url,
            event_types: valid.event_types,
            description: valid.description,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            disabled_at: None,
            created_at: now,
            created_by: caller.subject.clone(),
            updated_at: now,
            secrets: vec![WebhookSecret { value: secret.clone(), expires_at: None }],
            version: 1,
        };
        match self.store.insert_endpoint(&endpoint, self.settings.max_endpoints).await {
            Ok(()) => Ok(WithSecret { endpoint, secret }),
            Err(PortError::LimitReached) => Err(ServiceError::WebhookEndpointLimit(self.settings.max_endpoints)),
            // A random id already taken: one in two billion; the caller may try again.
            Err(e) => Err(e.into()),
        }
    }

    /// The endpoints of the organisation asked for, or of the token's own.
    pub async fn list(&self, caller: &Caller, org_id: Option<String>) -> Result<Vec<WebhookEndpoint>, ServiceError> {
        let orgs = match (org_id, &caller.scope) {
            (Some(org), _) => vec![acting_for(caller, Some(org))?],
            (None, OrgScope::Only(orgs)) if orgs.len() <= MAX_ORGS_LISTED => orgs.clone(),
            (None, _) => {
                return Err(ServiceError::Validation(vec![FieldError::new(
                    "org_id",
                    "is required for an administrator or a token naming more than 20 organisations",
                )]));
            }
        };
        let mut all = Vec::new();
        for org in orgs {
            all.extend(self.store.list_endpoints(&org).await?);
        }
        Ok(all)
    }

    /// One endpoint, if the caller may see it; another organisation's
    /// answers like a missing one.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<WebhookEndpoint, ServiceError> {
        let _ = WebhookEndpointId::parse(id).ok_or(ServiceError::NotFound)?;
        match self.store.get_endpoint(id).await? {
            Some(e) if caller.may_act_for(&e.org_id) => Ok(e),
            _ => Err(ServiceError::NotFound),
        }
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        request: &UpdateWebhookRequest,
    ) -> Result<WebhookEndpoint, ServiceError> {
        let valid = request.validate(&self.settings.targets).map_err(ServiceError::Validation)?;
        if let Some(url) = &valid.url {
            self.check_target(url).await?;
        }
        self.change(caller, id, |e| {
            if let Some(url) = &valid.url {
                e.url = url.clone();
            }
            if let Some(types) = &valid.event_types {
                e.event_types = types.clone();
            }
            if let Some(description) = &valid.description {
                e.description = description.clone();
            }
            match valid.enabled {
                Some(true) => {
                    e.status = EndpointStatus::Enabled;
                    e.disabled_reason = None;
                    e.disabled_at = None;
                }
                Some(false) if e.status == EndpointStatus::Enabled => {
                    e.status = EndpointStatus::Disabled;
                    e.disabled_reason = Some("disabled by request".into());
                    e.disabled_at = Some(Utc::now());
                }
                _ => {}
            }
        })
        .await
    }

    /// A new secret; the current one keeps signing beside it for the overlap.
    pub async fn rotate(
        &self,
        caller: &Caller,
        id: &str,
        request: &RotateSecretRequest,
    ) -> Result<WithSecret, ServiceError> {
        let overlap = request.overlap().map_err(ServiceError::Validation)?;
        let secret = new_secret();
        let endpoint = self
            .change(caller, id, |e| {
                let now = Utc::now();
                e.secrets.retain(|s| s.expires_at.is_none_or(|at| at > now));
                for old in &mut e.secrets {
                    let until = now + overlap;
                    old.expires_at = Some(old.expires_at.map_or(until, |at| at.min(until)));
                }
                e.secrets.insert(0, WebhookSecret { value: secret.clone(), expires_at: None });
            })
            .await?;
        Ok(WithSecret { endpoint, secret })
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let endpoint = self.get(caller, id).await?;
        if self.store.delete_endpoint(&endpoint).await? { Ok(()) } else { Err(ServiceError::NotFound) }
    }

    pub async fn deliveries(
        &self,
        caller: &Caller,
        id: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, ServiceError> {
        let endpoint = self.get(caller, id).await?;
        Ok(self.store.list_deliveries(&endpoint.id, limit.clamp(1, MAX_DELIVERIES_LISTED)).await?)
    }

    /// Refuses a host that resolves to an address it may not reach now;
    /// one that does not resolve (yet) is accepted, its deliveries fail.
    async fn check_target(&self, url: &str) -> Result<(), ServiceError> {
        match resolve_target(url, &self.settings.targets).await {
            Err(TargetError::Refused(reason)) => Err(ServiceError::Validation(vec![FieldError::new("url", reason)])),
            Ok(_) | Err(TargetError::Unresolved(_)) => Ok(()),
        }
    }

    /// Read, change, write over the version read; a lost race is re-run
    /// on the fresh record.
    async fn change(
        &self,
        caller: &Caller,
        id: &str,
        edit: impl Fn(&mut WebhookEndpoint),
    ) -> Result<WebhookEndpoint, ServiceError> {
        for _ in 0..8 {
            let current = self.get(caller, id).await?;
            let mut next = current.clone();
            edit(&mut next);
            next.updated_at = Utc::now();
            next.version = current.version + 1;
            match self.store.update_endpoint(&next, current.version).await {
                Ok(()) => return Ok(next),
                Err(PortError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Unavailable("the webhook endpoint kept changing".into()))
    }
}
