//! Languages: Uzbek (Latin), Russian and English. Texts come from `locales/*.json` through `leptos_i18n`;
//! this module renders the values the UI and the REST API share — notification sentences, statuses, money and
//! dates — in a given language.

use chrono::{DateTime, FixedOffset, Utc};
use leptos_i18n::Locale as _;

use crate::{
    i18n::{Locale, td_string},
    models::{FiscalStatus, NotificationKind, OrderStatus, Role, TransactionStatus},
};

/// The language's tag (`en`, `ru`, `uz`), as stored and as in the language cookie.
pub fn tag(locale: Locale) -> &'static str {
    locale.as_str()
}

/// The language of a tag such as `ru`, `uz-Latn-UZ` or `en-GB`.
pub fn from_tag(tag: &str) -> Option<Locale> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    Locale::get_all()
        .iter()
        .copied()
        .find(|l| l.as_str() == primary)
}

/// The preferred supported language of an `Accept-Language` header (by `q`), if any.
pub fn from_accept_language(header: &str) -> Option<Locale> {
    let mut ranked: Vec<(f32, Locale)> = header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let locale = from_tag(parts.next()?)?;
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, locale))
        })
        .collect();
    // Stable: among equal weights the header's order wins.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map(|(_, l)| *l)
}

/// The name of each language in itself, for the switcher.
pub fn native_name(locale: Locale) -> &'static str {
    match locale {
        Locale::en => "English",
        Locale::ru => "Русский",
        Locale::uz => "O‘zbekcha",
    }
}

/// An order status's label.
pub fn status(locale: Locale, status: OrderStatus) -> String {
    match status {
        OrderStatus::Pending => td_string!(locale, status.pending),
        OrderStatus::Paid => td_string!(locale, status.paid),
        OrderStatus::InProcess => td_string!(locale, status.in_process),
        OrderStatus::Completed => td_string!(locale, status.completed),
        OrderStatus::Canceled => td_string!(locale, status.canceled),
    }
    .to_owned()
}

/// A transaction status's label.
pub fn transaction_status(locale: Locale, status: TransactionStatus) -> String {
    match status {
        TransactionStatus::Waiting => td_string!(locale, txn_status.waiting),
        TransactionStatus::Processing => td_string!(locale, txn_status.processing),
        TransactionStatus::Confirmed => td_string!(locale, txn_status.confirmed),
        TransactionStatus::Canceled => td_string!(locale, txn_status.canceled),
    }
    .to_owned()
}

/// A fiscal receipt state's label.
pub fn fiscal_status(locale: Locale, status: FiscalStatus) -> String {
    match status {
        FiscalStatus::NotRequired => td_string!(locale, fiscal_status.not_required),
        FiscalStatus::Pending => td_string!(locale, fiscal_status.pending),
        FiscalStatus::Submitted => td_string!(locale, fiscal_status.submitted),
        FiscalStatus::Failed => td_string!(locale, fiscal_status.failed),
    }
    .to_owned()
}

/// A role's label.
pub fn role(locale: Locale, role: Role) -> String {
    match role {
        Role::Client => td_string!(locale, role.client),
        Role::Worker => td_string!(locale, role.worker),
        Role::Admin => td_string!(locale, role.admin),
    }
    .to_owned()
}

/// A notification kind's label (for filters).
pub fn kind(locale: Locale, kind: NotificationKind) -> String {
    match kind {
        NotificationKind::OrderCreated => td_string!(locale, kind.order_created),
        NotificationKind::OrderAssigned => td_string!(locale, kind.order_assigned),
        NotificationKind::OrderStatusChanged => td_string!(locale, kind.order_status_changed),
        NotificationKind::PaymentConfirmed => td_string!(locale, kind.payment_confirmed),
        NotificationKind::PaymentCanceled => td_string!(locale, kind.payment_canceled),
        NotificationKind::OrderMessage => td_string!(locale, kind.order_message),
    }
    .to_owned()
}

/// Fills the `%name%` placeholders of a translated sentence. (Sentences used as plain strings — by the REST
/// API too — are kept free of `leptos_i18n`'s view interpolation, which renders to views only.)
fn fill(template: impl std::fmt::Display, values: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut text = template.to_string();
    for (name, value) in values {
        text = text.replace(&format!("%{name}%"), &value.to_string());
    }
    text
}

/// The sentence for an event of `kind` on order `order_id` with `data`, in `locale`.
pub fn notification(
    locale: Locale,
    kind: NotificationKind,
    order_id: i64,
    data: &serde_json::Value,
) -> String {
    let id: &dyn std::fmt::Display = &order_id;
    match kind {
        NotificationKind::OrderCreated => {
            fill(td_string!(locale, event.order_created), &[("id", id)])
        }
        NotificationKind::OrderAssigned => match data.get("to").and_then(serde_json::Value::as_i64)
        {
            Some(worker) => fill(
                td_string!(locale, event.order_assigned),
                &[("id", id), ("worker", &worker)],
            ),
            None => fill(td_string!(locale, event.order_unassigned), &[("id", id)]),
        },
        NotificationKind::OrderStatusChanged => {
            let to = data
                .get("to")
                .and_then(serde_json::Value::as_str)
                .and_then(|s| s.parse::<OrderStatus>().ok());
            match to {
                Some(to) => fill(
                    td_string!(locale, event.order_status_changed),
                    &[("id", id), ("status", &status(locale, to))],
                ),
                None => fill(td_string!(locale, event.order_changed), &[("id", id)]),
            }
        }
        NotificationKind::PaymentConfirmed => {
            fill(td_string!(locale, event.payment_confirmed), &[("id", id)])
        }
        NotificationKind::PaymentCanceled => {
            fill(td_string!(locale, event.payment_canceled), &[("id", id)])
        }
        NotificationKind::OrderMessage => {
            fill(td_string!(locale, event.order_message), &[("id", id)])
        }
    }
}

/// Groups the digits of `n` by thousands with `separator`.
fn group(n: u64, separator: &str) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * separator.len());
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

/// The thousands separator and the decimal mark of `locale`.
fn separators(locale: Locale) -> (&'static str, &'static str) {
    match locale {
        Locale::en => (",", "."),
        Locale::ru | Locale::uz => ("\u{a0}", ","),
    }
}

/// A whole number with its thousands separated the language's way (`150,000`, `150 000`).
pub fn number(locale: Locale, n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group(n.unsigned_abs(), separators(locale).0))
}

/// An amount in tiyin as so'm: thousands separated the language's way, tiyin shown only when there are some
/// (`1 250 000 so‘m`, `1 250 000 сум`, `1,250,000 so'm`).
pub fn money(locale: Locale, tiyin: i64) -> String {
    let (thousands, decimal) = separators(locale);
    let sign = if tiyin < 0 { "-" } else { "" };
    let abs = tiyin.unsigned_abs();
    let mut amount = format!("{sign}{}", group(abs / 100, thousands));
    if !abs.is_multiple_of(100) {
        amount.push_str(&format!("{decimal}{:02}", abs % 100));
    }
    fill(td_string!(locale, money), &[("amount", &amount)])
}

/// Tashkent time (UTC+5, no daylight saving): the service's market, the same on the server and in the browser,
/// so a server-rendered date never changes when the page hydrates.
fn tashkent() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600).expect("UTC+5 is a valid offset")
}

/// The Tashkent date of a moment (the dashboard's days).
pub fn tashkent_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&tashkent()).date_naive()
}

/// Month abbreviations for English dates.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment, in Tashkent time, the language's way. (Formatted by hand: chrono's pattern formatter would add
/// tens of kilobytes to the WASM.)
pub fn datetime(locale: Locale, at: DateTime<Utc>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let t = at.with_timezone(&tashkent());
    let (hour, minute) = (t.hour(), t.minute());
    match locale {
        Locale::en => format!(
            "{} {} {}, {hour:02}:{minute:02}",
            t.day(),
            MONTHS[t.month0() as usize],
            t.year()
        ),
        Locale::ru | Locale::uz => format!(
            "{:02}.{:02}.{} {hour:02}:{minute:02}",
            t.day(),
            t.month(),
            t.year()
        ),
    }
}

/// A day (for charts), the language's way.
pub fn day(locale: Locale, date: chrono::NaiveDate) -> String {
    use chrono::Datelike as _;
    match locale {
        Locale::en => format!("{} {}", date.day(), MONTHS[date.month0() as usize]),
        Locale::ru | Locale::uz => format!("{:02}.{:02}", date.day(), date.month()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(
            from_accept_language("ru-RU,ru;q=0.9,en;q=0.8"),
            Some(Locale::ru)
        );
        assert_eq!(
            from_accept_language("de;q=1, uz;q=0.5, en;q=0.7"),
            Some(Locale::en)
        );
        assert_eq!(from_accept_language("uz-Latn-UZ"), Some(Locale::uz));
        assert_eq!(from_accept_language("de, fr"), None);
        assert_eq!(from_accept_language("en;q=0, ru;q=0.1"), Some(Locale::ru));
        assert_eq!(from_accept_language(""), None);
    }

    #[test]
    fn money_groups_thousands_and_shows_tiyin_only_when_present() {
        assert_eq!(money(Locale::en, 125_000_000), "1,250,000 so'm");
        assert_eq!(money(Locale::ru, 125_000_050), "1\u{a0}250\u{a0}000,50 сум");
        assert_eq!(money(Locale::uz, 99_900), "999 so‘m");
        assert_eq!(money(Locale::uz, 0), "0 so‘m");
    }

    #[test]
    fn numbers_group_thousands_the_languages_way() {
        assert_eq!(number(Locale::en, 150_000), "150,000");
        assert_eq!(number(Locale::ru, 1_500_000), "1\u{a0}500\u{a0}000");
        assert_eq!(number(Locale::uz, -1_000), "-1\u{a0}000");
        assert_eq!(number(Locale::en, 999), "999");
    }

    #[test]
    fn notifications_read_in_each_language() {
        let data = serde_json::json!({"from": "paid", "to": "in_process"});
        let kind = NotificationKind::OrderStatusChanged;
        assert_eq!(
            notification(Locale::en, kind, 77, &data),
            "Order #77 is now In process"
        );
        assert_eq!(
            notification(Locale::ru, kind, 77, &data),
            "Заказ №77 теперь: В работе"
        );
        assert_eq!(
            notification(Locale::uz, kind, 77, &data),
            "#77-buyurtma holati: Bajarilmoqda"
        );
    }

    #[test]
    fn dates_are_in_tashkent_time() {
        let at = "2026-11-23T22:00:00Z".parse().expect("a valid time");
        assert_eq!(datetime(Locale::en, at), "24 Nov 2026, 03:00");
        assert_eq!(datetime(Locale::ru, at), "24.11.2026 03:00");
    }
}
