//! The outbound guard: every call this product makes to a URL a tenant chose (postbacks now,
//! webhooks later) goes through it, so a tenant cannot make the server reach its own network
//! (SSRF): loopback, private ranges, link-local with the cloud metadata address, and every
//! other special-purpose range ([`unmogrowp_domain::net::is_public`]).
//!
//! - The scheme must be `http` or `https`, and the URL may not carry credentials.
//! - An address written in the URL (in any spelling the URL standard reads: decimal, hex, short
//!   IPv4 forms, bracketed IPv6, IPv4-mapped) is checked before the request.
//! - A name is resolved by the guard's own resolver, which refuses it when *any* of its
//!   addresses is refused: the connection is made only to addresses that were checked, so a
//!   name that resolves to a public address for a check and a private one for the connection
//!   (DNS rebinding) gets nowhere.
//! - Redirects are followed (at most 3) only to URLs that pass the same checks.
//! - No proxy from the environment is used (it would resolve names itself).
//! - Failures are reported in generic words ([`describe`]): the delivery log must not tell an
//!   open port from a closed one.
//!
//! An operator may allow ranges that are otherwise refused (`security.outbound_allow_cidrs`,
//! e.g. a postback receiver on the same private network; tests allow `127.0.0.0/8`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use unmogrowp_domain::net::{IpNet, is_public};

/// Which destinations outbound calls may reach: public addresses, and the allowed ranges.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    allow: Arc<[IpNet]>,
}

/// Why a destination was refused; shown to the tenant as "destination refused".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not an `http` or `https` URL, or not a URL at all.
    #[error("only http and https URLs can be called")]
    Scheme,
    /// The URL carries a user name or password.
    #[error("URLs with credentials cannot be called")]
    Credentials,
    /// The URL has no host.
    #[error("the URL has no host")]
    NoHost,
    /// The host is, or resolves to, an address outside the public internet.
    #[error("the destination is not a public internet address")]
    Private,
}

impl OutboundPolicy {
    /// A policy that also allows `allow` (already parsed CIDR ranges).
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow: allow.into() }
    }

    /// Parses `security.outbound_allow_cidrs` entries (`127.0.0.0/8`, `fd00::/8`, bare
    /// addresses).
    ///
    /// # Errors
    ///
    /// The first entry that is not an address or CIDR range, with the reason.
    pub fn parse(allow: &[String]) -> Result<Self, String> {
        let ranges = allow
            .iter()
            .map(|text| IpNet::parse(text).map_err(|message| format!("`{text}`: {message}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(ranges))
    }

    /// Whether a connection to `address` is allowed.
    pub fn permits(&self, address: IpAddr) -> bool {
        is_public(address) || self.allow.iter().any(|range| range.contains(address))
    }

    /// Checks a URL before anything is sent: scheme, credentials, and an address written as
    /// the host. A host name is only checked when it is resolved (by [`OutboundPolicy::client`]'s
    /// resolver), except `localhost` and `*.localhost`, which always mean this machine
    /// (RFC 6761) and are refused here unless loopback is allowed.
    ///
    /// # Errors
    ///
    /// The [`Refusal`] that applies.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let address = match url.host() {
            None => return Err(Refusal::NoHost),
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
                } else {
                    return Ok(());
                }
            }
        };
        if self.permits(address) { Ok(()) } else { Err(Refusal::Private) }
    }

    /// Checks URL text as a tenant gave it (a postback template with its `{macros}`: each is
    /// replaced by a letter first, so a macro in the path or query does not matter; one in
    /// the host is judged when the filled URL is sent).
    ///
    /// # Errors
    ///
    /// The [`Refusal`] that applies; text that is no URL at all is [`Refusal::Scheme`].
    pub fn check_template(&self, template: &str) -> Result<(), Refusal> {
        let mut filled = String::with_capacity(template.len());
        let mut in_macro = false;
        for c in template.chars() {
            match c {
                '{' => in_macro = true,
                '}' if in_macro => {
                    in_macro = false;
                    filled.push('x');
                }
                _ if in_macro => {}
                other => filled.push(other),
            }
        }
        let url = url::Url::parse(&filled).map_err(|_| Refusal::Scheme)?;
        self.check_url(&url)
    }

    /// An HTTP client builder whose every connection and redirect passes this policy (see the
    /// module docs); callers add timeouts and a user agent.
    pub fn client(&self) -> reqwest::ClientBuilder {
        let policy = self.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the URLs already requested: the original and each redirect.
            if attempt.previous().len() > 3 {
                attempt.error("too many redirects")
            } else if let Err(refusal) = policy.check_url(attempt.url()) {
                attempt.error(refusal)
            } else {
                attempt.follow()
            }
        });
        reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(Arc::new(GuardedResolver { policy: self.clone() }))
    }
}

/// Resolves names with the system resolver and refuses any name with an address the policy
/// does not permit.
struct GuardedResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|error| -> Box<dyn std::error::Error + Send + Sync> { Box::new(error) })?
                .collect();
            if addresses.is_empty() || addresses.iter().any(|address| !policy.permits(address.ip()))
            {
                return Err(Box::new(Refusal::Private) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A call's failure in the words the delivery log may show: `destination refused` (the guard
/// said no), `timed out`, `too many redirects` or `connection failed` — never the resolver's or
/// the socket's own message, which would let a tenant probe hosts and ports.
pub fn describe(error: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.downcast_ref::<Refusal>().is_some() {
            return "destination refused";
        }
        source = current.source();
    }
    if error.is_timeout() {
        "timed out"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "connection failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect(text)
    }

    #[test]
    fn every_spelling_of_a_private_host_is_refused() {
        let policy = OutboundPolicy::default();
        for text in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1:8080/x",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:a9fe:a9fe]/",
            "http://10.0.0.8/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://localhost:9000/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert_eq!(policy.check_url(&url(text)), Err(Refusal::Private), "{text}");
        }
        assert_eq!(policy.check_url(&url("ftp://example.com/")), Err(Refusal::Scheme));
        assert_eq!(policy.check_url(&url("file:///etc/passwd")), Err(Refusal::Scheme));
        assert_eq!(policy.check_url(&url("http://u:p@example.com/")), Err(Refusal::Credentials));
        assert_eq!(policy.check_url(&url("https://8.8.8.8/pb")), Ok(()));
        assert_eq!(policy.check_url(&url("https://network.example/pb")), Ok(()));
    }

    #[test]
    fn the_allow_list_opens_only_its_ranges() {
        let policy = OutboundPolicy::parse(&["127.0.0.0/8".to_owned()]).expect("ranges");
        assert_eq!(policy.check_url(&url("http://127.0.0.1:4000/")), Ok(()));
        assert_eq!(policy.check_url(&url("http://localhost:4000/")), Ok(()));
        assert_eq!(policy.check_url(&url("http://[::ffff:127.0.0.1]/")), Ok(()));
        assert_eq!(policy.check_url(&url("http://10.0.0.1/")), Err(Refusal::Private));
        assert!(OutboundPolicy::parse(&["10.0.0.0/33".to_owned()]).is_err());
    }

    #[test]
    fn templates_are_checked_with_their_macros_filled() {
        let policy = OutboundPolicy::default();
        assert_eq!(policy.check_template("https://n.example/pb?c={click_id}&r={revenue}"), Ok(()));
        assert_eq!(
            policy.check_template("http://127.0.0.1/pb?c={click_id}"),
            Err(Refusal::Private)
        );
        assert_eq!(policy.check_template("gopher://n.example/{click_id}"), Err(Refusal::Scheme));
    }
}
