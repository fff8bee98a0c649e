//! What payments need from configuration: the providers' credentials, the addresses their calls may come from,
//! the public address, and the clock.

use std::{
    net::IpAddr,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::models::PaymentProvider;

/// The time as payments see it. Tests move it forward to cross the 12-hour timeout; production never does.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Now, at millisecond precision (so a stored time reads back as the same number of milliseconds).
    pub fn now(&self) -> DateTime<Utc> {
        from_ms(self.now_ms())
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The Payme cashbox.
#[derive(Debug, Clone)]
pub struct PaymeSettings {
    pub merchant_id: String,
    /// The cashbox key (Basic auth password of `Paycom`).
    pub key: SecretString,
    /// The key of Payme's test sandbox, accepted as well, but only in [`Self::test_mode`].
    pub test_key: Option<SecretString>,
    /// Whether the cashbox is being tested against Payme's sandbox: only then is the test key honoured, so a test
    /// key left in a production configuration opens nothing.
    pub test_mode: bool,
    /// Payme's checkout page, e.g. `https://checkout.paycom.uz` (`https://test.paycom.uz` for tests).
    pub checkout_url: String,
    /// Where Payme's calls may come from; any address when `None`.
    pub allowed_ips: Option<AddressList>,
}

impl PaymeSettings {
    /// Whether a call from `from` may be served (see [`AddressList::admits`]).
    pub fn admits(&self, from: Option<IpAddr>) -> bool {
        AddressList::admits(self.allowed_ips.as_ref(), from)
    }
}

/// The Click service.
#[derive(Debug, Clone)]
pub struct ClickSettings {
    pub service_id: i64,
    pub merchant_id: i64,
    pub merchant_user_id: i64,
    pub secret_key: SecretString,
    /// Click's pay page, e.g. `https://my.click.uz/services/pay`.
    pub checkout_url: String,
    /// How long a prepared attempt reserves its order without a complete.
    pub prepare_ttl: Duration,
    /// Where Click's calls may come from; any address when `None`.
    pub allowed_ips: Option<AddressList>,
}

impl ClickSettings {
    /// Whether a call from `from` may be served (see [`AddressList::admits`]).
    pub fn admits(&self, from: Option<IpAddr>) -> bool {
        AddressList::admits(self.allowed_ips.as_ref(), from)
    }
}

/// Source addresses a webhook accepts calls from: single addresses and CIDR blocks, IPv4 or IPv6
/// (`185.234.113.0/28, 2001:db8::/32, 10.1.2.3`). An extra layer over the providers' own authentication (the
/// key, the signature), never a replacement for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressList(Vec<(IpAddr, u8)>);

impl AddressList {
    /// Whether `from` is in `list`; with no list, every caller is. A caller whose address is unknown is only
    /// admitted without a list.
    pub fn admits(list: Option<&Self>, from: Option<IpAddr>) -> bool {
        match (list, from) {
            (None, _) => true,
            (Some(list), Some(ip)) => list.contains(ip),
            (Some(_), None) => false,
        }
    }

    /// Whether `ip` is in one of the blocks (an IPv4 address written as IPv6, `::ffff:a.b.c.d`, counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|&(block, bits)| match (block, ip) {
            (IpAddr::V4(block), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                u32::from(block) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(block), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(block) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }
}

impl FromStr for AddressList {
    type Err = String;

    /// A comma-separated list of addresses and blocks; an empty list or a bad entry is an error, so that a typo
    /// neither opens the webhook nor shuts the provider out without a word.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut blocks = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (address, bits) = entry.split_once('/').unwrap_or((entry, ""));
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))?;
            let address = address.to_canonical();
            let most = if address.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() {
                most
            } else {
                bits.parse::<u8>()
                    .ok()
                    .filter(|&b| b <= most)
                    .ok_or_else(|| format!("{entry:?} has a bad prefix length"))?
            };
            blocks.push((address, bits));
        }
        if blocks.is_empty() {
            return Err("the list is empty".to_owned());
        }
        Ok(Self(blocks))
    }
}

/// The unit a receipt line's title ends with when `FISCAL_UNIT` is not set: every order is one service.
pub const DEFAULT_FISCAL_UNIT: &str = "xizmat";

/// What fiscal receipts need from configuration (`shared/PAYMENTS.md` §4).
#[derive(Debug, Clone)]
pub struct FiscalSettings {
    /// `FISCAL_RECEIPTS=required`: a service without an IKPU code cannot be paid online. Off (`optional`), such a
    /// service is paid as before and its payments' `fiscal_status` is `not_required`.
    pub required: bool,
    /// The merchant's TIN (9 digits), the commission info of a receipt line not sold on a worker's behalf.
    pub merchant_tin: Option<String>,
    /// The classifier's unit of what one order sells, at the end of each receipt line's title ("Uy tozalash
    /// (xizmat)"): the count is always 1, so it is one service.
    pub unit: String,
}

impl Default for FiscalSettings {
    fn default() -> Self {
        Self {
            required: false,
            merchant_tin: None,
            unit: DEFAULT_FISCAL_UNIT.to_owned(),
        }
    }
}

/// Everything payments need from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub payme: Option<PaymeSettings>,
    pub click: Option<ClickSettings>,
    pub fiscal: FiscalSettings,
    /// The public base URL (return links and sandbox links), without a trailing slash.
    pub public_url: String,
    /// Whether the built-in gateway sandbox is served (demo and tests; never in production).
    pub sandbox: bool,
    pub clock: Clock,
}

impl Settings {
    /// Whether `provider` is configured on this server.
    pub fn enabled(&self, provider: PaymentProvider) -> bool {
        match provider {
            PaymentProvider::Payme => self.payme.is_some(),
            PaymentProvider::Click => self.click.is_some(),
        }
    }

    /// How long a prepared Click attempt reserves its order, in milliseconds (forever without Click).
    pub(crate) fn click_ttl_ms(&self) -> i64 {
        self.click.as_ref().map_or(i64::MAX, |c| {
            i64::try_from(c.prepare_ttl.as_millis()).unwrap_or(i64::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn address_lists_hold_addresses_and_blocks() {
        let list: AddressList = "185.234.113.0/28, 10.1.2.3 ,2001:db8::/32"
            .parse()
            .expect("a valid list");
        for inside in [
            "185.234.113.1",
            "185.234.113.15",
            "10.1.2.3",
            "2001:db8::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(list.contains(ip(inside)), "{inside}");
        }
        for outside in [
            "185.234.113.16",
            "10.1.2.4",
            "2001:db9::1",
            "127.0.0.1",
            "::1",
        ] {
            assert!(!list.contains(ip(outside)), "{outside}");
        }
        let everything: AddressList = "0.0.0.0/0".parse().expect("a valid list");
        assert!(everything.contains(ip("203.0.113.9")));
        assert!(
            !everything.contains(ip("::1")),
            "an IPv4 block holds no IPv6 address"
        );
        for bad in [
            "",
            " , ",
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0.1/x",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<AddressList>().is_err(), "{bad:?}");
        }
        assert!(AddressList::admits(None, None));
        assert!(!AddressList::admits(Some(&list), None));
        assert!(AddressList::admits(Some(&list), Some(ip("10.1.2.3"))));
    }
}
