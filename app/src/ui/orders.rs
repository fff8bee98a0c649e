//! Orders: the landing page, the client's catalogue, the list of orders every role sees, and the order page
//! (timeline, conversation, status buttons, payment, assignment).

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_router::hooks::use_params_map;

use crate::{
    api::{
        self, AssignOrder as Assign, CreateOrder, CreateOrderMessage as PostMessage,
        CreatePayment as Pay, UpdateOrderStatus as ChangeStatus,
    },
    i18n::{td, td_string},
    lang,
    models::{
        Notification, Offer, Order, OrderStatus, OrderView, PaymentProvider, Role, Service,
        Transaction, UserSummary,
    },
    ui::{
        Guard, SessionCtx, locale,
        widgets::{
            Empty, ErrorBox, FieldError, Listed, Loading, Money, Status, When, page_param,
            query_param,
        },
    },
};

/// `/`: what Task is for visitors; the orders for signed-in users.
#[component]
pub fn Home() -> impl IntoView {
    match expect_context::<SessionCtx>().get() {
        Some(s) => view! { <OrderListBody role=s.user.role /> }.into_any(),
        None => view! {
            <section class="hero">
                <h1>{tr!(home.title)}</h1>
                <p class="lead">{tr!(home.lead)}</p>
                <ul class="features">
                    <li>{tr!(home.feature_order)}</li>
                    <li>{tr!(home.feature_live)}</li>
                    <li>{tr!(home.feature_pay)}</li>
                </ul>
                <p class="cta">
                    <a href="/signup" class="button">{tr!(nav.sign_up)}</a>
                    " "
                    <a href="/signin">{tr!(nav.sign_in)}</a>
                </p>
                <p class="hint">{tr!(home.api)} " " <a href="/api/docs">"/api/docs"</a></p>
            </section>
        }
        .into_any(),
    }
}

/// `/services`: the catalogue; a client orders from here.
#[component]
pub fn Catalogue() -> impl IntoView {
    view! { <Guard roles=&[Role::Client] view=|_| view! { <CatalogueBody /> } /> }
}

#[component]
fn CatalogueBody() -> impl IntoView {
    let page = page_param();
    let offers = Resource::new(move || page.get(), api::list_catalogue);
    // The cards' forms post here; a failed order comes back to this page with the server's error.
    let order = ServerAction::<CreateOrder>::new();
    let failed = move || order.value().get().and_then(Result::err);
    view! {
        <h1>{tr!(services.title)}</h1>
        {move || failed().map(|e| {
            let fields: Vec<String> = e.errors.values().flatten().cloned().collect();
            view! {
                <ErrorBox error=e />
                <ul class="field-error">{fields.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
            }
        })}
        <Listed
            list=offers
            empty=|| view! { <Empty><p>{tr!(services.empty)}</p></Empty> }
            rows={|items: Vec<Offer>| view! {
                <div class="grid">
                    {items
                        .into_iter()
                        .map(|o| view! { <ServiceCard service=o.service workers=o.workers /> })
                        .collect_view()}
                </div>
            }}
        />
    }
}

/// One service, with its order form (opened by its summary; a plain form, so it works before any script).
#[component]
fn ServiceCard(service: Service, workers: Vec<UserSummary>) -> impl IntoView {
    let id = service.id;
    view! {
        <article class="card service" data-service=service.name>
            <h2>{service.name.clone()}</h2>
            <p class="price"><Money tiyin=service.price /></p>
            <p>{service.description.clone()}</p>
            <details class="order">
                <summary class="button order-open">{tr!(services.order)}</summary>
                <form method="post" action=CreateOrder::url() class="form" id=format!("order-{id}")>
                    <input type="hidden" name="service_id" value=id />
                    <label>
                        {tr!(services.details)}
                        <textarea name="description" rows="3" maxlength="2000"
                            placeholder=tr!(services.details_hint)></textarea>
                    </label>
                    {if !workers.is_empty() {
                        view! { <WorkerChoice workers /> }.into_any()
                    } else {
                        view! { <input type="hidden" name="worker_id" value="" /> }.into_any()
                    }}
                    <button type="submit" class="order-submit">{tr!(services.place_order)}</button>
                </form>
            </details>
        </article>
    }
}

#[component]
fn WorkerChoice(workers: Vec<UserSummary>) -> impl IntoView {
    view! {
        <label>
            {tr!(services.worker)}
            <select name="worker_id">
                <option value="">{tr!(services.any_worker)}</option>
                {workers.into_iter().map(|w| view! {
                    <option value=w.id>{w.full_name} " (" {w.username} ")"</option>
                }).collect_view()}
            </select>
        </label>
    }
}

/// `/orders`: the orders the caller may see, filterable by status, updated live.
#[component]
pub fn OrderList() -> impl IntoView {
    view! { <Guard view=|s| view! { <OrderListBody role=s.user.role /> } /> }
}

#[component]
fn OrderListBody(role: Role) -> impl IntoView {
    let page = page_param();
    let status = query_param("status");
    let orders = Resource::new(
        move || (page.get(), status.get()),
        |(p, s)| api::list_orders(p, s.and_then(|s| s.parse().ok())),
    );
    let title = move || {
        match role {
            Role::Client => td_string!(locale(), orders.mine),
            Role::Worker => td_string!(locale(), orders.assigned),
            Role::Admin => td_string!(locale(), orders.all),
        }
        .to_owned()
    };
    view! {
        <div class="heading">
            <h1>{title}</h1>
            {(role == Role::Client).then(|| view! { <a href="/services" class="button">{tr!(orders.new)}</a> })}
        </div>
        <form class="filters" method="get">
            <label>
                {tr!(orders.status)}
                <select name="status">
                    <option value="">{tr!(common.all)}</option>
                    {OrderStatus::ALL.iter().map(|&s| view! {
                        <option value=s.as_str() selected=move || status.get().as_deref() == Some(s.as_str())>
                            {lang::status(locale(), s)}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary">{tr!(common.filter)}</button>
        </form>
        // New and changed orders arrive live, from the socket's frames (see `live/parts.rs`).
        <div data-live="orders" data-page=page.get_untracked() data-status=status.get_untracked()>
            <Listed
                list=orders
                empty=move || view! {
                    <Empty>
                        <p>{tr!(orders.empty)}</p>
                        {(role == Role::Client).then(|| view! { <a href="/services">{tr!(orders.browse)}</a> })}
                    </Empty>
                }
                rows={move |items: Vec<Order>| view! { <OrdersTable orders=items role /> }}
            />
        </div>
    }
}

/// A page of orders (rendered on the server, and in the browser when the first order of an empty list arrives).
#[component]
pub(crate) fn OrdersTable(orders: Vec<Order>, role: Role) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="orders">
                <thead>
                    <tr>
                        <th scope="col">"#"</th>
                        <th scope="col">{tr!(orders.service)}</th>
                        {(role != Role::Client).then(|| view! { <th scope="col">{tr!(orders.client)}</th> })}
                        {(role != Role::Worker).then(|| view! { <th scope="col">{tr!(orders.worker)}</th> })}
                        <th scope="col">{tr!(orders.status)}</th>
                        <th scope="col" class="num">{tr!(orders.price)}</th>
                        <th scope="col">{tr!(orders.created)}</th>
                    </tr>
                </thead>
                <tbody>
                    {orders.into_iter().map(|o| view! { <OrderRow o role /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One order of a list (rendered on the server, and in the browser for an order arriving live). Its status cell
/// follows the order's status changes.
#[component]
pub(crate) fn OrderRow(o: Order, role: Role) -> impl IntoView {
    view! {
        <tr data-order=o.id>
            <td><a href=format!("/orders/{}", o.id)>"#" {o.id}</a></td>
            <td><a href=format!("/orders/{}", o.id)>{o.service_name.clone()}</a></td>
            {(role != Role::Client).then(|| view! { <td>{o.client.full_name.clone()}</td> })}
            {(role != Role::Worker).then(|| view! {
                <td>{o.worker.as_ref().map_or_else(|| "—".to_owned(), |w| w.full_name.clone())}</td>
            })}
            <td data-cell="status"><Status status=o.status /></td>
            <td class="num"><Money tiyin=o.price /></td>
            <td><When at=o.created_at /></td>
        </tr>
    }
}

/// `/orders/:id`.
#[component]
pub fn OrderPage() -> impl IntoView {
    view! { <Guard view=|s| view! { <OrderBody role=s.user.role /> } /> }
}

#[component]
fn OrderBody(role: Role) -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|v| v.parse::<i64>().ok()));
    let view_data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => api::get_order(id).await,
                None => Err(api::ApiError {
                    status: 404,
                    code: "not_found".to_owned(),
                    detail: "Not found.".to_owned(),
                    errors: Default::default(),
                }),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || view_data.get().map(|r| match r {
                Ok(v) => view! { <OrderDetail view=v role /> }.into_any(),
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
            })}
        </Suspense>
    }
}

/// The label of the button moving an order to `to`.
fn move_label(locale: crate::i18n::Locale, to: OrderStatus) -> String {
    match to {
        OrderStatus::Pending => td_string!(locale, status.pending),
        OrderStatus::Paid => td_string!(locale, actions.mark_paid),
        OrderStatus::InProcess => td_string!(locale, actions.start),
        OrderStatus::Completed => td_string!(locale, actions.complete),
        OrderStatus::Canceled => td_string!(locale, actions.cancel),
    }
    .to_owned()
}

/// The order page's parts. The status (`#order-status`, carrying the order's id), the actions, the worker, the
/// timeline, the conversation and the payments follow the order's events in the browser (see `live/parts.rs`);
/// the message being typed is not touched, so nothing typed is lost. Every action is a plain form post that
/// returns to this page (paying goes on to the provider's checkout), with the server's error when it failed.
#[component]
fn OrderDetail(view: OrderView, role: Role) -> impl IntoView {
    let OrderView {
        order,
        timeline,
        messages,
        next,
        payable,
        providers,
        workers,
        transactions,
    } = view;
    let id = order.id;
    let change = ServerAction::<ChangeStatus>::new();
    let pay = ServerAction::<Pay>::new();
    let assign = ServerAction::<Assign>::new();
    let failure = [
        change.value().get_untracked().and_then(Result::err),
        pay.value().get_untracked().and_then(Result::err),
        assign.value().get_untracked().and_then(Result::err),
    ]
    .into_iter()
    .flatten()
    .next();
    let chosen = order.worker_id.or(workers.first().map(|w| w.id));
    view! {
        <div class="heading">
            <h1>{td!(locale(), order.title, id)} " · " {order.service_name.clone()}</h1>
            <span id="order-status" data-order=id><Status status=order.status /></span>
        </div>
        <div class="order-grid">
            <section class="card facts">
                <dl>
                    <dt>{tr!(orders.price)}</dt><dd><Money tiyin=order.price /></dd>
                    <dt>{tr!(orders.client)}</dt>
                    <dd data-person=order.client.id>{order.client.full_name.clone()}</dd>
                    <dt>{tr!(orders.worker)}</dt>
                    <dd id="order-worker" data-person=order.worker.as_ref().map(|w| w.id)>
                        {order.worker.as_ref().map_or_else(|| "—".to_owned(), |w| w.full_name.clone())}
                    </dd>
                    <dt>{tr!(orders.created)}</dt><dd><When at=order.created_at /></dd>
                </dl>
                {(!order.description.is_empty()).then(|| view! {
                    <p class="description">{order.description.clone()}</p>
                })}
                <div class="actions" id="order-actions">
                    {(payable && !providers.is_empty()).then(|| view! {
                        <ActionForm action=pay attr:id="pay-form">
                            <input type="hidden" name="order_id" value=id />
                            {providers.iter().map(|&p| view! {
                                <button
                                    type="submit"
                                    name="provider"
                                    value=p.as_str()
                                    id=format!("pay-{}", p.as_str())
                                    class="pay"
                                >
                                    {match p {
                                        PaymentProvider::Payme => tr!(actions.pay_payme),
                                        PaymentProvider::Click => tr!(actions.pay_click),
                                    }}
                                </button>
                            }).collect_view()}
                        </ActionForm>
                    })}
                    <Moves id next />
                </div>
                {(role == Role::Admin && !order.status.is_terminal()).then(|| view! {
                    <ActionForm action=assign attr:class="assign">
                        <input type="hidden" name="id" value=id />
                        <label>
                            {tr!(orders.assign)}
                            <select id="assign-worker" name="worker_id" required>
                                {workers.iter().map(|w| view! {
                                    <option value=w.id selected=chosen == Some(w.id)>{w.full_name.clone()}</option>
                                }).collect_view()}
                            </select>
                        </label>
                        <button type="submit" class="secondary" disabled=workers.is_empty()>
                            {tr!(orders.assign_button)}
                        </button>
                    </ActionForm>
                })}
                {failure.map(|e| view! { <ErrorBox error=e /> })}
            </section>
            <section class="card">
                <h2>{tr!(order.conversation)}</h2>
                <Conversation order=id messages closed=order.status.is_terminal() />
            </section>
            <section class="card">
                <h2>{tr!(order.timeline)}</h2>
                <ol class="timeline" id="timeline">
                    {timeline.into_iter().map(|n| view! { <TimelineItem n /> }).collect_view()}
                </ol>
            </section>
            <div class="card-slot" id="order-transactions">
                {(!transactions.is_empty()).then(|| view! { <OrderPayments transactions /> })}
            </div>
        </div>
    }
}

/// The buttons of the moves the reader may make (a plain form; nothing when there are none). Rendered on the
/// server, and in the browser when the order's status changes.
#[component]
pub(crate) fn Moves(id: i64, next: Vec<OrderStatus>) -> impl IntoView {
    (!next.is_empty()).then(|| {
        view! {
            <form method="post" action=ChangeStatus::url() id="moves">
                <input type="hidden" name="id" value=id />
                {next.iter().map(|&to| view! {
                    <button type="submit" name="status" value=to.as_str()
                        class=if to == OrderStatus::Canceled { "danger" } else { "" }
                        data-to=to.as_str()>
                        {move_label(locale(), to)}
                    </button>
                }).collect_view()}
            </form>
        }
    })
}

/// One event of the order's timeline.
#[component]
pub(crate) fn TimelineItem(n: Notification) -> impl IntoView {
    view! {
        <li data-id=n.id>
            <span>{lang::notification(locale(), n.kind, n.order_id, &n.data)}</span>
            <When at=n.created_at />
        </li>
    }
}

/// The order's payment attempts (for its client and admins).
#[component]
pub(crate) fn OrderPayments(transactions: Vec<Transaction>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>{tr!(nav.transactions)}</h2>
            <ul class="plain" id="order-payments">
                {transactions.into_iter().map(|tx| view! { <OrderPayment tx /> }).collect_view()}
            </ul>
        </section>
    }
}

/// One payment attempt of the order.
#[component]
pub(crate) fn OrderPayment(tx: Transaction) -> impl IntoView {
    view! {
        <li data-txn=tx.id>
            {tx.provider.as_str()} " · " <Money tiyin=tx.amount /> " · "
            <span class=format!("txn txn-{}", tx.status.as_str())>
                {lang::transaction_status(locale(), tx.status)}
            </span>
            " · " <When at=tx.created_at />
            {tx.fiscal_receipt_url.map(|url| view! {
                " · " <a class="receipt" href=url target="_blank" rel="noopener noreferrer">
                    {tr!(transactions.fiscal)}
                </a>
            })}
        </li>
    }
}

#[component]
fn Conversation(order: i64, messages: Vec<crate::models::Message>, closed: bool) -> impl IntoView {
    let me = expect_context::<SessionCtx>().get().map(|s| s.user.id);
    let send = ServerAction::<PostMessage>::new();
    let error = Signal::derive(move || send.value().get().and_then(Result::err));
    let empty = messages.is_empty();
    view! {
        <ol class="messages" id="messages">
            {empty.then(|| view! { <li class="empty">{tr!(order.no_messages)}</li> })}
            {messages.into_iter().map(|m| {
                let mine = me == Some(m.sender.id);
                view! { <MessageItem m mine /> }
            }).collect_view()}
        </ol>
        {(!closed).then(|| view! {
            <ActionForm action=send attr:class="form send" attr:id="message-form">
                <input type="hidden" name="id" value=order />
                <label>
                    <span class="sr-only">{tr!(order.message)}</span>
                    <textarea id="message-text" name="text" rows="2" maxlength="2000" required
                        placeholder=tr!(order.message_hint)></textarea>
                </label>
                <FieldError error field="text" />
                <button type="submit" id="send-message">{tr!(order.send)}</button>
            </ActionForm>
        })}
    }
}

/// One message of the conversation (rendered on the server, and in the browser for one arriving live).
#[component]
pub(crate) fn MessageItem(m: crate::models::Message, mine: bool) -> impl IntoView {
    view! {
        <li class="message" class:mine=mine data-id=m.id>
            <strong data-person=m.sender.id>{m.sender.full_name.clone()}</strong>
            <p>{m.text.clone()}</p>
            <When at=m.created_at />
        </li>
    }
}
