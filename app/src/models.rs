//! Wire types shared by the server, the REST API and the browser: no server-only state, no secrets.
//!
//! Money is an integer number of tiyin everywhere (`price`, `amount`); timestamps are RFC 3339 UTC with
//! milliseconds; ids are `i64`.

use std::{collections::BTreeMap, fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod status;
pub mod validate;

/// Timestamps as RFC 3339 in UTC with milliseconds (`2026-11-23T22:00:00.123Z`).
pub mod ts {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes a timestamp with millisecond precision and a `Z` suffix.
    pub fn serialize<S: Serializer>(value: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Parses any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }

    /// The same for optional timestamps.
    pub mod option {
        use super::*;

        /// Serializes `None` as `null`.
        pub fn serialize<S: Serializer>(
            value: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        /// Parses `null` or an RFC 3339 timestamp.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(d)
        }
    }
}

/// Declares a string enum with its wire names, `as_str`, `FromStr` and `Display`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire (and database) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(UnknownValue(s.to_owned())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Written by hand: the derive cannot read the wire names through this macro, and would document the
        // Rust variant names instead.
        #[cfg(feature = "ssr")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($wire),+]))
                    .into()
            }
        }

        #[cfg(feature = "ssr")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

/// A string that names no value of a wire enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{0}`")]
pub struct UnknownValue(pub String);

wire_enum! {
    /// What a user may do. Self-registration always creates a `client`.
    Role { Client => "client", Worker => "worker", Admin => "admin" }
}

wire_enum! {
    /// Where an order is in its life; see [`status`] for the allowed moves.
    OrderStatus {
        Pending => "pending",
        Paid => "paid",
        InProcess => "in_process",
        Completed => "completed",
        Canceled => "canceled",
    }
}

wire_enum! {
    /// What happened to an order.
    NotificationKind {
        OrderCreated => "order_created",
        OrderAssigned => "order_assigned",
        OrderStatusChanged => "order_status_changed",
        PaymentConfirmed => "payment_confirmed",
        PaymentCanceled => "payment_canceled",
        OrderMessage => "order_message",
    }
}

wire_enum! {
    /// A payment gateway.
    PaymentProvider { Payme => "payme", Click => "click" }
}

wire_enum! {
    /// Where a payment attempt is.
    TransactionStatus {
        Waiting => "waiting",
        Processing => "processing",
        Confirmed => "confirmed",
        Canceled => "canceled",
    }
}

wire_enum! {
    /// Where a payment's fiscal receipt is (`shared/PAYMENTS.md` §4): `not_required` (the service has no fiscal
    /// codes, or nothing was paid), `pending` (due: Payme's `SetFiscalData` or our Click submission to come),
    /// `submitted` (the provider has it), `failed` (Click refused it too often, or Payme reported a failure).
    FiscalStatus {
        NotRequired => "not_required",
        Pending => "pending",
        Submitted => "submitted",
        Failed => "failed",
    }
}

impl OrderStatus {
    /// `completed` and `canceled` allow no further move.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled)
    }
}

/// A user as every API shows it (never a password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub email: Option<String>,
    pub full_name: String,
    pub phone: Option<String>,
    pub is_active: bool,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
}

/// A user on the admin's users page, with the PINFL/TIN their orders' receipts name as the seller (the user
/// object does not show it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub user: User,
    pub tax_id: Option<String>,
}

/// A short view of a user, nested in other objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub full_name: String,
}

/// Head counts by role (`GET /api/v1/users/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserStats {
    pub total: i64,
    pub clients: i64,
    pub workers: i64,
    pub admins: i64,
}

/// The admin dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// Every status, in machine order, with its number of orders.
    pub by_status: Vec<StatusCount>,
    /// The last days, oldest first.
    pub days: Vec<DayFigures>,
    /// Confirmed payments ever, in tiyin.
    pub revenue: i64,
    pub users: UserStats,
    /// The feed's id the figures are exact at: they count every event up to it and none after it, so a page
    /// counting on from the socket's frames skips the frames up to it.
    pub as_of: i64,
}

/// How many orders are in one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCount {
    pub status: OrderStatus,
    pub count: i64,
}

/// One day's orders and confirmed revenue (tiyin), by Tashkent date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFigures {
    pub day: chrono::NaiveDate,
    pub orders: i64,
    pub revenue: i64,
}

/// A pair of fresh tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access: String,
    /// Opaque, single-use token for `/api/v1/auth/token/refresh`.
    pub refresh: String,
}

/// The answer to a successful login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub access: String,
    pub refresh: String,
    pub user: User,
}

/// A service clients can order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Tiyin.
    pub price: i64,
    pub is_active: bool,
    pub worker_ids: Vec<i64>,
    /// The national classifier's 17-digit product/service code (IKPU) its fiscal receipts carry.
    pub ikpu_code: Option<String>,
    /// The classifier's package code of the service (up to 20 characters).
    pub package_code: Option<String>,
    /// The VAT rate in percent contained in the price (0 when the seller pays no VAT).
    pub vat_percent: i32,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<Utc>,
}

/// An order of a service by a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: i64,
    pub client_id: i64,
    pub worker_id: Option<i64>,
    pub service_id: i64,
    pub service_name: String,
    /// Tiyin, copied from the service when the order was placed.
    pub price: i64,
    pub status: OrderStatus,
    pub description: String,
    pub client: UserSummary,
    pub worker: Option<UserSummary>,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<Utc>,
}

/// One event of an order, as seen by one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub kind: NotificationKind,
    pub order_id: i64,
    pub actor_id: Option<i64>,
    /// A human sentence rendered from `kind` and `data`.
    pub message: String,
    /// The event's facts, by kind: `{status}` for `order_created`, `{from, to}` for status changes and
    /// assignments, `{message_id, text}` for messages, `{transaction_id, provider, amount}` for payments.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// Whether the viewing user has read it.
    pub read: bool,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
}

/// One message of the client–worker conversation on an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: i64,
    pub order_id: i64,
    pub sender: UserSummary,
    pub text: String,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
}

/// One payment attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Transaction {
    pub id: i64,
    pub order_id: i64,
    pub provider: PaymentProvider,
    /// Tiyin.
    pub amount: i64,
    pub status: TransactionStatus,
    pub provider_transaction_id: Option<String>,
    /// Payme's transaction state (1, 2, -1, -2), 0 before the provider created it.
    pub state: i32,
    pub reason: Option<i32>,
    /// Where the payment's fiscal receipt is.
    pub fiscal_status: FiscalStatus,
    /// The fiscal receipt's page on the tax authority's site, once known.
    pub fiscal_receipt_url: Option<String>,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    #[serde(with = "ts::option")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub performed_at: Option<DateTime<Utc>>,
    #[serde(with = "ts::option")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub canceled_at: Option<DateTime<Utc>>,
}

/// A page of a list, DRF style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// How many items match, over all pages.
    pub count: i64,
    /// The URL of the next page, if any.
    pub next: Option<String>,
    /// The URL of the previous page, if any.
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// `{count}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UnreadCount {
    pub count: i64,
}

/// `{updated}`: how many notifications were newly marked read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReadAllResult {
    pub updated: i64,
}

/// The error envelope of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A human-readable sentence.
    pub detail: String,
    /// A stable machine code: `invalid`, `parse_error`, `not_authenticated`, `token_invalid`,
    /// `bad_credentials`, `permission_denied`, `not_found`, `invalid_transition`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `throttled`, `server_error`.
    pub code: String,
    /// Messages by field, for validation failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
}

/// A frame the server sends on the live feed (`GET /ws/notifications`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The first frame: who the socket belongs to and the newest id of their feed.
    Hello {
        user_id: i64,
        role: Role,
        last_id: i64,
    },
    /// A new event, or one replayed after `after_id`. A live event that placed, assigned or moved an order
    /// also carries the `order` as the change left it (what a list row shows), so that an open list puts it in
    /// place without reading it; a replayed one does not (the page reads the row if it needs it).
    Notification {
        notification: Notification,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<Box<Order>>,
    },
    /// Read state changed in another tab or device of the same user.
    Read { ids: Vec<i64> },
    /// The answer to a `ping`.
    Pong,
    /// The server could not keep up with this socket: reconnect with `after_id`.
    Resync,
    /// A client frame was not understood; the connection stays up.
    Error { code: String, detail: String },
}

/// A frame the client sends on the live feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Asks for a `pong`. (A struct variant, so that unknown fields are refused like elsewhere.)
    Ping {},
    /// Marks notifications read; the user's other sockets get a `read` frame.
    MarkRead { ids: Vec<i64> },
}

/// Deserializes a present field (even `null`) as `Some`, so `Option<Option<T>>` tells "absent" from "null".
pub fn some<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RegisterInput {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// `POST /api/v1/auth/login` and `/api/v1/auth/token`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/auth/token/refresh` and `/api/v1/auth/logout`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RefreshInput {
    pub refresh: String,
}

/// Declares a profile-change input: the profile fields every user may change (absent fields stay; `null` clears
/// `email` or `phone`), written once, plus the fields particular to the input.
macro_rules! profile_change {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        pub struct $name {
            #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
            #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
            pub email: Option<Option<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub full_name: Option<String>,
            #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
            #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
            pub phone: Option<Option<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub password: Option<String>,
            $($(#[$field_meta])* pub $field: $ty,)*
        }
    };
}

profile_change! {
    /// `PATCH /api/v1/me`: absent fields stay; `null` clears `email` or `phone`. A new `password` needs the
    /// `current_password`.
    pub struct UpdateMeInput {
        /// The caller's current password: required with `password`, ignored otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub current_password: Option<String>,
    }
}

/// `POST /api/v1/users` (admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreateUserInput {
    pub username: String,
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

profile_change! {
    /// `PATCH /api/v1/users/{id}` (admin): absent fields stay; `null` clears `email` or `phone`.
    pub struct UpdateUserInput {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub role: Option<Role>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub is_active: Option<bool>,
        /// A worker's PINFL (14 digits) or TIN (9 digits): their orders' fiscal receipts then name them as the
        /// seller (sold on their behalf). `null` clears it. Written here, not shown on the user object.
        #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
        pub tax_id: Option<Option<String>>,
    }
}

/// `POST /api/v1/services` (admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreateServiceInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Tiyin, more than 0.
    pub price: i64,
    #[serde(default = "yes")]
    pub is_active: bool,
    /// 17 digits.
    #[serde(default)]
    pub ikpu_code: Option<String>,
    /// Up to 20 letters, digits or dashes.
    #[serde(default)]
    pub package_code: Option<String>,
    /// 0 to 100; 0 when absent.
    #[serde(default)]
    pub vat_percent: Option<i32>,
}

fn yes() -> bool {
    true
}

/// `PATCH /api/v1/services/{id}` (admin).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpdateServiceInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// 17 digits; `null` clears it.
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub ikpu_code: Option<Option<String>>,
    /// `null` clears it.
    #[serde(
        default,
        deserialize_with = "some",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub package_code: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_percent: Option<i32>,
}

/// `PUT /api/v1/services/{id}/workers` (admin): the whole set of workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SetWorkersInput {
    pub worker_ids: Vec<i64>,
}

/// `POST /api/v1/orders` (client).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreateOrderInput {
    pub service_id: i64,
    #[serde(default)]
    pub worker_id: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /api/v1/orders/{id}/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChangeStatusInput {
    pub status: OrderStatus,
}

/// `POST /api/v1/payments`: the order's client starts paying for a pending order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatePaymentInput {
    pub order_id: i64,
    pub provider: PaymentProvider,
}

/// The answer to `POST /api/v1/payments`: where to send the payer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentCheckout {
    pub transaction_id: i64,
    /// The provider's real checkout page for this order and amount.
    pub payment_url: String,
    /// The built-in gateway sandbox for this payment, when the deployment enables it (demo and tests only).
    pub sandbox_url: Option<String>,
}

/// `GET /api/v1/transactions/{id}/receipt`: the fiscal receipt of a confirmed Click payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FiscalReceipt {
    pub transaction_id: i64,
    /// The receipt's page on the tax authority's site (its QR code encodes the same URL).
    pub qr_code_url: String,
}

/// `POST /api/v1/orders/{id}/assign` (admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AssignInput {
    pub worker_id: i64,
}

/// `POST /api/v1/orders/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PostMessageInput {
    /// 1 to 2000 characters.
    pub text: String,
}

/// A service in the catalogue, with the workers a client may choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub service: Service,
    pub workers: Vec<UserSummary>,
}

/// Everything the order page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub order: Order,
    /// The order's events, oldest first.
    pub timeline: Vec<Notification>,
    /// The conversation, oldest first (the latest 100).
    pub messages: Vec<Message>,
    /// The statuses the caller may move the order to.
    pub next: Vec<OrderStatus>,
    /// Whether the caller may pay for it now.
    pub payable: bool,
    /// The payment providers enabled on this server.
    pub providers: Vec<PaymentProvider>,
    /// For admins: the workers who may be assigned (the service's workers).
    pub workers: Vec<UserSummary>,
    /// Payment attempts (for the order's client and admins).
    pub transactions: Vec<Transaction>,
}

/// The signed-in user as a page starts with them: their unread count and the newest id of their feed (where the
/// page's live feed starts, so nothing committed after the page was rendered is missed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: User,
    pub unread: i64,
    pub last_id: i64,
}

pub mod delivery;

#[cfg(test)]
mod proptests;
