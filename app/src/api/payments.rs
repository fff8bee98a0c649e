//! Paying and the transactions: server functions over [`crate::domain::payments`] and
//! [`crate::domain::transactions`].

use leptos::{prelude::*, server_fn::codec::Json};

use super::{ApiError, Listing};
use crate::models::{PaymentCheckout, PaymentProvider, Transaction, TransactionStatus};
#[cfg(feature = "ssr")]
use {
    super::web::{actor, context, listing, window},
    crate::domain::{
        payments::{self, fiscal},
        transactions::{self, TransactionFilter},
    },
    crate::models::CreatePaymentInput,
};

/// Starts paying for an order: the provider's checkout link (and the sandbox's, in the demo).
#[server(prefix = "/_fn", endpoint = "create_payment")]
pub async fn create_payment(
    order_id: i64,
    provider: PaymentProvider,
) -> Result<PaymentCheckout, ApiError> {
    let input = CreatePaymentInput { order_id, provider };
    let checkout = payments::checkout(&context()?, &actor()?, input).await?;
    leptos_axum::redirect(
        checkout
            .sandbox_url
            .as_deref()
            .unwrap_or(&checkout.payment_url),
    );
    Ok(checkout)
}

/// Transactions (admins all, clients their own), filtered.
#[server(prefix = "/_fn", endpoint = "list_transactions")]
pub async fn list_transactions(
    page: i64,
    provider: Option<PaymentProvider>,
    status: Option<TransactionStatus>,
) -> Result<Listing<Transaction>, ApiError> {
    let filter = TransactionFilter {
        order_id: None,
        provider,
        status,
    };
    let slice = transactions::list(&context()?, &actor()?, filter, window(page)?).await?;
    Ok(listing(page, slice))
}

/// One transaction (admins any, clients their own): what a page's live parts read when a payment's event arrives.
#[server(prefix = "/_fn", endpoint = "get_transaction", input = Json)]
pub async fn get_transaction(id: i64) -> Result<Transaction, ApiError> {
    Ok(transactions::get(&context()?, &actor()?, id).await?)
}

/// An admin queues a failed Click fiscal submission again (a plain form on the transactions page returns to it).
#[server(prefix = "/_fn", endpoint = "retry_fiscal")]
pub async fn retry_fiscal(id: i64) -> Result<Transaction, ApiError> {
    let txn = fiscal::retry(&context()?, &actor()?, id).await?;
    leptos_axum::redirect(&super::web::back_to("/admin/transactions", None));
    Ok(txn)
}
