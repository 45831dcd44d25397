//! Outgoing email: SMTP when `smtp_url` is set, otherwise each message is written as an
//! `.eml` file under `<data_dir>/outbox/` (and one line is logged). Messages are sent from
//! background tasks so that no response waits on (or reveals anything through) delivery.

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One message to one recipient, in plain text and HTML (sent as `multipart/alternative`).
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    /// The recipient's address, e.g. `ada@example.com`.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body; every user-provided value in it is escaped.
    pub html: String,
}

/// A way to deliver email.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers one message.
    ///
    /// # Errors
    ///
    /// The message could not be built (a bad recipient address), written or handed to the
    /// SMTP server; the caller decides whether to retry ([`send_in_background`] does).
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()>;
    /// The transport's name for logs and the `transport` metric label: `outbox` or `smtp`.
    fn kind(&self) -> &'static str;
}

fn build_message(from: &Mailbox, email: &OutgoingEmail) -> anyhow::Result<Message> {
    let to: Mailbox = email.to.parse().with_context(|| format!("recipient `{}`", email.to))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .context("building the message")
}

/// Writes messages as files (development and single-node setups without SMTP).
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// Writes `.eml` files into `dir` (created on first send) with `from` as the sender.
    pub fn new(dir: PathBuf, from: Mailbox) -> Self {
        Self { dir, from }
    }
}

#[async_trait::async_trait]
impl Mailer for OutboxMailer {
    #[tracing::instrument(name = "email.write", skip_all)]
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let message = build_message(&self.from, email)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let name = format!(
            "{}-{}.eml",
            unmogrowp_domain::time::now_millis(),
            uuid::Uuid::new_v4().simple()
        );
        let path = self.dir.join(name);
        let partial = path.with_extension("eml.partial");
        tokio::fs::write(&partial, message.formatted())
            .await
            .with_context(|| format!("writing {}", partial.display()))?;
        tokio::fs::rename(&partial, &path).await?;
        tracing::info!(to = %email.to, subject = %email.subject, path = %path.display(), "email written to the outbox");
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "outbox"
    }
}

/// Sends over SMTP (`smtp://HOST:PORT`, plain; for relays on a trusted network).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A transport to the relay at `url` (`smtp://[user:password@]HOST[:PORT]`, plain
    /// SMTP, port 25 by default) sending as `from`.
    ///
    /// # Errors
    ///
    /// `url` is not a URL, not `smtp://`, or has no host.
    pub fn new(url: &str, from: Mailbox) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).context("smtp_url is not a URL")?;
        anyhow::ensure!(parsed.scheme() == "smtp", "smtp_url must start with smtp://");
        let host = parsed.host_str().context("smtp_url has no host")?.to_owned();
        let port = parsed.port().unwrap_or(25);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(name = "email.send", skip_all)]
    async fn send(&self, email: &OutgoingEmail) -> anyhow::Result<()> {
        let message = build_message(&self.from, email)?;
        self.transport.send(message).await.context("SMTP delivery")?;
        tracing::info!(to = %email.to, subject = %email.subject, "email sent over SMTP");
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

/// The mailer a configuration asks for: SMTP when `smtp_url` is set and not empty
/// (`smtp://HOST:PORT`, credentials in the URL), else `.eml` files written to
/// `<data_dir>/outbox`. `smtp_from` is the sender mailbox, e.g. `UnMoGrowP <no-reply@example.com>`.
///
/// # Errors
///
/// `smtp_from` that is not a mailbox, or an SMTP URL the transport refuses.
pub fn from_settings(
    smtp_url: Option<&str>,
    smtp_from: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Mailer>> {
    let from: Mailbox = smtp_from.parse().with_context(|| format!("smtp_from `{smtp_from}`"))?;
    match smtp_url.filter(|url| !url.is_empty()) {
        Some(url) => Ok(Arc::new(SmtpMailer::new(url, from)?)),
        None => Ok(Arc::new(OutboxMailer::new(data_dir.join("outbox"), from))),
    }
}

/// Sends in the background with a few retries; failures are logged, never shown to the
/// requester (who must not learn from us whether an address exists).
pub fn send_in_background(mailer: Arc<dyn Mailer>, email: OutgoingEmail) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=4 {
            match mailer.send(&email).await {
                Ok(()) => {
                    metrics::counter!(crate::metric_names::EMAILS_SENT_TOTAL, "transport" => mailer.kind())
                        .increment(1);
                    return;
                }
                Err(error) => {
                    tracing::warn!(attempt, to = %email.to, subject = %email.subject, error = format!("{error:#}"), "email delivery failed");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        metrics::counter!(crate::metric_names::EMAILS_FAILED_TOTAL, "transport" => mailer.kind())
            .increment(1);
    });
}

/// The messages the product sends, as text and HTML.
pub mod templates {
    use super::OutgoingEmail;

    fn escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                other => out.push(other),
            }
        }
        out
    }

    fn html_page(title: &str, paragraphs: &[String], button: Option<(&str, &str)>) -> String {
        let mut body = String::new();
        for paragraph in paragraphs {
            body.push_str(&format!("<p style=\"margin:0 0 16px\">{}</p>", escape(paragraph)));
        }
        if let Some((label, link)) = button {
            body.push_str(&format!(
                "<p style=\"margin:24px 0\"><a href=\"{link}\" style=\"background:#4f46e5;color:#fff;\
                 padding:12px 20px;border-radius:6px;text-decoration:none;font-weight:600\">{label}</a></p>\
                 <p style=\"margin:0 0 16px;color:#6b7280;font-size:13px\">Or open this link: {link}</p>",
                link = escape(link),
                label = escape(label)
            ));
        }
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;color:#111827;max-width:560px;margin:0 auto;padding:24px\">\
             <h1 style=\"font-size:20px\">{title}</h1>{body}\
             <p style=\"color:#6b7280;font-size:12px;margin-top:32px\">UnMoGrowP</p></body></html>",
            title = escape(title)
        )
    }

    /// The password-reset message: `link` sets a new password, once, for `ttl_minutes`.
    pub fn password_reset(to: &str, name: &str, link: &str, ttl_minutes: u64) -> OutgoingEmail {
        let greeting = format!("Hello {name},");
        let ask = "Someone asked to reset the password of your UnMoGrowP account.".to_owned();
        let validity = format!(
            "The link works once and for {ttl_minutes} minutes. If you did not ask for it, ignore this email: your password stays as it is."
        );
        OutgoingEmail {
            to: to.to_owned(),
            subject: "Reset your UnMoGrowP password".to_owned(),
            text: format!(
                "{greeting}\n\n{ask}\nChoose a new password here:\n\n{link}\n\n{validity}\n"
            ),
            html: html_page(
                "Reset your password",
                &[greeting, ask, validity],
                Some(("Choose a new password", link)),
            ),
        }
    }

    /// The notice sent when many sign-ins of the account failed within the window (the
    /// account is protected: attempts are slowed, never let through).
    pub fn failed_sign_ins(
        to: &str,
        name: &str,
        failures: u32,
        window_minutes: u64,
    ) -> OutgoingEmail {
        let greeting = format!("Hello {name},");
        let news = format!(
            "There were {failures} failed attempts to sign in to your UnMoGrowP account in the last {window_minutes} minutes."
        );
        let advice = "If that was not you, someone may be guessing your password: choose a long, unique one (Forgot password on the sign-in page) and tell your organization's administrators. Your account stays usable; attempts are being slowed.".to_owned();
        OutgoingEmail {
            to: to.to_owned(),
            subject: "Failed sign-ins on your UnMoGrowP account".to_owned(),
            text: format!("{greeting}\n\n{news}\n{advice}\n"),
            html: html_page("Failed sign-ins on your account", &[greeting, news, advice], None),
        }
    }

    /// A security alert for operators or an organization's administrators: `title` and the
    /// facts, one per line.
    pub fn security_alert(to: &str, title: &str, facts: &[String]) -> OutgoingEmail {
        OutgoingEmail {
            to: to.to_owned(),
            subject: format!("UnMoGrowP security alert: {title}"),
            text: format!("{title}\n\n{}\n", facts.join("\n")),
            html: html_page(title, facts, None),
        }
    }

    /// The notice sent after a password change (every session was ended).
    pub fn password_changed(to: &str, name: &str) -> OutgoingEmail {
        let greeting = format!("Hello {name},");
        let news = "The password of your UnMoGrowP account was just changed, and every signed-in session was ended.".to_owned();
        let warning = "If you did not do this, reset your password now and tell your organization's administrators.".to_owned();
        OutgoingEmail {
            to: to.to_owned(),
            subject: "Your UnMoGrowP password was changed".to_owned(),
            text: format!("{greeting}\n\n{news}\n{warning}\n"),
            html: html_page("Your password was changed", &[greeting, news, warning], None),
        }
    }

    /// An invitation to join an organization, with the link that accepts it.
    pub fn invitation(
        to: &str,
        inviter: &str,
        organization: &str,
        role: &str,
        link: &str,
        ttl_days: u64,
    ) -> OutgoingEmail {
        let line = format!("{inviter} invited you to join {organization} on UnMoGrowP as {role}.");
        let validity = format!("The invitation works once and for {ttl_days} days.");
        OutgoingEmail {
            to: to.to_owned(),
            subject: format!("Join {organization} on UnMoGrowP"),
            text: format!("Hello,\n\n{line}\nAccept it here:\n\n{link}\n\n{validity}\n"),
            html: html_page(
                &format!("Join {organization}"),
                &["Hello,".to_owned(), line, validity],
                Some(("Accept the invitation", link)),
            ),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn html_is_escaped_and_links_are_present() {
            let email = invitation(
                "a@b.c",
                "<script>x</script>",
                "Acme & Co",
                "admin",
                "http://h/accept-invitation?token=T",
                7,
            );
            assert!(!email.html.contains("<script>"));
            assert!(email.html.contains("Acme &amp; Co"));
            assert!(email.text.contains("http://h/accept-invitation?token=T"));
            assert!(email.html.contains("http://h/accept-invitation?token=T"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_holds_a_readable_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mailer = OutboxMailer::new(
            dir.path().join("outbox"),
            "UnMoGrowP <no-reply@example.com>".parse().expect("mailbox"),
        );
        mailer.send(&templates::password_changed("ada@example.com", "Ada")).await.expect("written");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox")).expect("outbox").collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().expect("entry").path();
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("eml"));
        let text = std::fs::read_to_string(path).expect("readable");
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains("Subject: Your UnMoGrowP password was changed"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
    }
}
