use crate::domain::ParseError;
use std::fmt;

/// Where a stalled rotation is reported, besides logs and the evidence record.
///
/// Three shapes cover what Azure teams use: an Azure Monitor action group (its resource id),
/// a webhook (Teams, Slack, PagerDuty, Logic Apps take an HTTPS POST) and an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertTarget {
    ActionGroup(String),
    Webhook(url::Url),
    Email(String),
}

impl AlertTarget {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let err = |why: &str| ParseError::new("alert target", format!("{s:?}: {why}"));
        if let Some(addr) = s.strip_prefix("mailto:") {
            let (user, domain) = addr.split_once('@').ok_or_else(|| err("not an e-mail address"))?;
            if user.is_empty() || !domain.contains('.') || addr.contains(char::is_whitespace) {
                return Err(err("not an e-mail address"));
            }
            return Ok(AlertTarget::Email(addr.to_string()));
        }
        if s.starts_with("https://") {
            let url = url::Url::parse(s).map_err(|e| err(&e.to_string()))?;
            return Ok(AlertTarget::Webhook(url));
        }
        if s.to_ascii_lowercase().starts_with("/subscriptions/")
            && s.to_ascii_lowercase().contains("/providers/microsoft.insights/actiongroups/")
        {
            return Ok(AlertTarget::ActionGroup(s.to_string()));
        }
        Err(err("write an action group resource id (/subscriptions/.../providers/microsoft.insights/actionGroups/NAME), an https:// webhook or mailto:ADDRESS"))
    }
}

impl fmt::Display for AlertTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertTarget::ActionGroup(id) => f.write_str(id),
            AlertTarget::Webhook(url) => write!(f, "{url}"),
            AlertTarget::Email(addr) => write!(f, "mailto:{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_shapes() {
        assert!(matches!(AlertTarget::parse("mailto:ops@example.com"), Ok(AlertTarget::Email(_))));
        assert!(matches!(AlertTarget::parse("https://hooks.example.com/x"), Ok(AlertTarget::Webhook(_))));
        let ag = "/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/actionGroups/oncall";
        assert!(matches!(AlertTarget::parse(ag), Ok(AlertTarget::ActionGroup(_))));
        for bad in ["ops@example.com", "http://hooks.example.com", "mailto:nobody", "pager"] {
            assert!(AlertTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
