//! The email channel's provider: SMTP through `lettre` (`SMTP_URL`), or one `.eml` file per message in a
//! directory (`EMAIL_DIR`) for local runs.

use std::{path::Path, time::Duration};

use anyhow::Context as _;
use app::domain::{
    context::BoxFuture,
    delivery::{Address, Message, Outcome, Transport},
};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};

enum Carrier {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Sends email from one sender.
pub struct Email {
    from: Mailbox,
    carrier: Carrier,
}

impl Email {
    /// Through the SMTP server at `url` (`smtp://`, `smtps://`; credentials in the URL).
    pub fn smtp(url: &str, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("Invalid SMTP_URL")?
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            from: from.parse().context("Invalid EMAIL_FROM")?,
            carrier: Carrier::Smtp(transport),
        })
    }

    /// Into `.eml` files in `dir` (created if missing).
    pub fn files(dir: &Path, from: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create EMAIL_DIR {}", dir.display()))?;
        Ok(Self {
            from: from.parse().context("Invalid EMAIL_FROM")?,
            carrier: Carrier::Files(AsyncFileTransport::new(dir)),
        })
    }

    async fn send_email(&self, to: &str, message: &Message) -> Outcome {
        let Ok(to) = to.parse::<Mailbox>() else {
            return Outcome::Refused {
                error: "the email address is not valid".to_owned(),
            };
        };
        let email = match lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(message.text.clone())
        {
            Ok(email) => email,
            Err(e) => {
                return Outcome::Refused {
                    error: format!("the message could not be built: {e}"),
                };
            }
        };
        match &self.carrier {
            Carrier::Smtp(smtp) => match smtp.send(email).await {
                Ok(_) => Outcome::Sent,
                Err(e) if e.is_permanent() => Outcome::Refused {
                    error: format!("the SMTP server refused it: {e}"),
                },
                Err(e) => Outcome::Retry {
                    error: format!("SMTP failed: {e}"),
                    after: None,
                },
            },
            Carrier::Files(files) => match files.send(email).await {
                Ok(_) => Outcome::Sent,
                Err(e) => Outcome::Retry {
                    error: format!("the message could not be written: {e}"),
                    after: None,
                },
            },
        }
    }
}

impl Transport for Email {
    fn send<'a>(&'a self, to: &'a Address, message: &'a Message) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match to {
                Address::Email(address) => self.send_email(address, message).await,
                _ => Outcome::Refused {
                    error: "not an email address".to_owned(),
                },
            }
        })
    }
}
