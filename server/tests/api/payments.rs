//! Payments against the real server and database: Payme's sandbox scenarios, Click's official test matrix, the
//! 12-hour timeout, refunds, cross-provider reservation, malformed bodies, concurrency, checkout links,
//! reconciliation, fiscal receipts (Payme's detail and SetFiscalData; Click's submit_items and receipt lookup against
//! local fakes of Click's merchant API), the gateway sandbox, and who
//! may call the webhooks at all (the test key, address lists).
//! The provider step sequences are case tables run by `common::Scenario`.

mod access;
mod checkout;
mod click;
pub mod common;
mod concurrency;
mod cross_provider;
mod fiscal;
mod payme;
mod receipts;
mod sandbox;
