//! Orders: the landing page, the client's catalogue, the list of orders every role sees, and the order page
//! (timeline, conversation, status buttons, payment, assignment).

use leptos::prelude::*;

use leptos_router::hooks::{use_navigate, use_params_map};

use crate::{
    api::{self, CreateOrder, OrderView},
    i18n::{td, td_string},
    lang,
    models::{Order, OrderStatus, PaymentProvider, Role, Service},
    ui::{
        Guard, SessionCtx,
        live::Live,
        locale,
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
    let services = Resource::new(move || page.get(), |p| api::services(p, false));
    view! {
        <h1>{tr!(services.title)}</h1>
        <Listed
            list=services
            empty=|| view! { <Empty><p>{tr!(services.empty)}</p></Empty> }
            rows={|items: Vec<Service>| view! {
                <div class="grid">
                    {items.into_iter().map(|s| view! { <ServiceCard service=s /> }).collect_view()}
                </div>
            }}
        />
    }
}

/// One service, with its order form (the worker list loads when the form opens).
#[component]
fn ServiceCard(service: Service) -> impl IntoView {
    let open = RwSignal::new(false);
    let action = ServerAction::<CreateOrder>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(order)) = action.value().get() {
            navigate(&format!("/orders/{}", order.id), Default::default());
        }
    });
    let id = service.id;
    let has_workers = !service.worker_ids.is_empty();
    view! {
        <article class="card service" data-service=service.name>
            <h2>{service.name.clone()}</h2>
            <p class="price"><Money tiyin=service.price /></p>
            <p>{service.description.clone()}</p>
            <Show
                when=move || open.get()
                fallback=move || view! {
                    <button class="order-open" on:click=move |_| open.set(true)>{tr!(services.order)}</button>
                }
            >
                <ActionForm action=action attr:class="form">
                    <input type="hidden" name="service_id" value=id />
                    <label>
                        {tr!(services.details)}
                        <textarea name="description" rows="3" maxlength="2000"
                            placeholder=tr!(services.details_hint)></textarea>
                    </label>
                    <FieldError error field="description" />
                    {has_workers.then(|| view! { <WorkerChoice service=id /> })}
                    <FieldError error field="worker_id" />
                    {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <ErrorBox error=e /> })}
                    <button type="submit" class="order-submit" disabled=move || action.pending().get()>
                        {tr!(services.place_order)}
                    </button>
                </ActionForm>
            </Show>
        </article>
    }
}

#[component]
fn WorkerChoice(service: i64) -> impl IntoView {
    let workers = Resource::new(move || service, api::service_workers);
    view! {
        <label>
            {tr!(services.worker)}
            <select name="worker_id">
                <option value="">{tr!(services.any_worker)}</option>
                <Transition fallback=|| ()>
                    {move || workers.get().and_then(Result::ok).map(|ws| ws.into_iter().map(|w| view! {
                        <option value=w.id>{w.full_name.clone()} " (" {w.username.clone()} ")"</option>
                    }).collect_view())}
                </Transition>
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
    let live = expect_context::<Live>();
    let page = page_param();
    let status = query_param("status");
    let orders = Resource::new(
        move || (page.get(), status.get(), live.version.get()),
        |(p, s, _)| api::orders(p, s.and_then(|s| s.parse().ok())),
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
    }
}

#[component]
fn OrdersTable(orders: Vec<Order>, role: Role) -> impl IntoView {
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
                    {orders.into_iter().map(|o| view! {
                        <tr data-order=o.id>
                            <td><a href=format!("/orders/{}", o.id)>"#" {o.id}</a></td>
                            <td><a href=format!("/orders/{}", o.id)>{o.service_name.clone()}</a></td>
                            {(role != Role::Client).then(|| view! { <td>{o.client.full_name.clone()}</td> })}
                            {(role != Role::Worker).then(|| view! {
                                <td>{o.worker.as_ref().map_or_else(|| "—".to_owned(), |w| w.full_name.clone())}</td>
                            })}
                            <td><Status status=o.status /></td>
                            <td class="num"><Money tiyin=o.price /></td>
                            <td><When at=o.created_at /></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `/orders/:id`.
#[component]
pub fn OrderPage() -> impl IntoView {
    view! { <Guard view=|s| view! { <OrderBody role=s.user.role /> } /> }
}

#[component]
fn OrderBody(role: Role) -> impl IntoView {
    let live = expect_context::<Live>();
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|v| v.parse::<i64>().ok()));
    // Re-read when an event of this order arrives.
    let touched = Memo::new(move |_| {
        let id = id.get();
        live.events
            .with(|e| e.iter().filter(|n| Some(n.order_id) == id).count())
    });
    let refresh = RwSignal::new(0u32);
    let view_data = Resource::new(
        move || (id.get(), touched.get(), refresh.get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => api::load_order(id).await,
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
        <Transition fallback=|| view! { <Loading /> }>
            {move || view_data.get().map(|r| match r {
                Ok(v) => view! { <OrderDetail view=v role refresh /> }.into_any(),
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
            })}
        </Transition>
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

#[component]
fn OrderDetail(view: OrderView, role: Role, refresh: RwSignal<u32>) -> impl IntoView {
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
    let change = Action::new(move |to: &OrderStatus| {
        let to = *to;
        async move { api::change_status(id, to).await }
    });
    let pay = Action::new(move |provider: &PaymentProvider| {
        let provider = *provider;
        async move { api::pay(id, provider).await }
    });
    let assign = Action::new(move |worker: &i64| {
        let worker = *worker;
        async move { api::assign(id, worker).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = change.value().get() {
            refresh.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = assign.value().get() {
            refresh.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(checkout)) = pay.value().get() {
            let _target = checkout.sandbox_url.clone().unwrap_or(checkout.payment_url);
            #[cfg(feature = "hydrate")]
            {
                let _ = window().location().set_href(&_target);
            }
        }
    });
    let failure = Signal::derive(move || {
        [
            change.value().get().and_then(Result::err),
            pay.value().get().and_then(Result::err),
            assign.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
    });
    let chosen = RwSignal::new(
        order
            .worker_id
            .or(workers.first().map(|w| w.id))
            .unwrap_or(0),
    );
    view! {
        <div class="heading">
            <h1>{td!(locale(), order.title, id)} " · " {order.service_name.clone()}</h1>
            <span id="order-status"><Status status=order.status /></span>
        </div>
        <div class="order-grid">
            <section class="card facts">
                <dl>
                    <dt>{tr!(orders.price)}</dt><dd><Money tiyin=order.price /></dd>
                    <dt>{tr!(orders.client)}</dt><dd>{order.client.full_name.clone()}</dd>
                    <dt>{tr!(orders.worker)}</dt>
                    <dd id="order-worker">{order.worker.as_ref().map_or_else(|| "—".to_owned(), |w| w.full_name.clone())}</dd>
                    <dt>{tr!(orders.created)}</dt><dd><When at=order.created_at /></dd>
                </dl>
                {(!order.description.is_empty()).then(|| view! { <p class="description">{order.description.clone()}</p> })}
                <div class="actions">
                    {payable.then(|| providers.iter().map(|&p| view! {
                        <button id=format!("pay-{}", p.as_str()) class="pay"
                            disabled=move || pay.pending().get()
                            on:click=move |_| { pay.dispatch(p); }>
                            {move || match p {
                                PaymentProvider::Payme => tr!(actions.pay_payme),
                                PaymentProvider::Click => tr!(actions.pay_click),
                            }}
                        </button>
                    }).collect_view())}
                    {next.iter().map(|&to| view! {
                        <button class=if to == OrderStatus::Canceled { "danger" } else { "" }
                            data-to=to.as_str()
                            disabled=move || change.pending().get()
                            on:click=move |_| { change.dispatch(to); }>
                            {move_label(locale(), to)}
                        </button>
                    }).collect_view()}
                </div>
                {(role == Role::Admin && !order.status.is_terminal()).then(|| view! {
                    <div class="assign">
                        <label>
                            {tr!(orders.assign)}
                            <select id="assign-worker" on:change=move |ev| {
                                if let Ok(w) = event_target_value(&ev).parse() { chosen.set(w); }
                            }>
                                {workers.iter().map(|w| {
                                    let wid = w.id;
                                    view! { <option value=wid selected=move || chosen.get() == wid>{w.full_name.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                        <button class="secondary" disabled=move || workers.is_empty() || assign.pending().get()
                            on:click=move |_| { assign.dispatch(chosen.get_untracked()); }>
                            {tr!(orders.assign_button)}
                        </button>
                    </div>
                })}
                {move || failure.get().map(|e| view! { <ErrorBox error=e /> })}
            </section>
            <section class="card">
                <h2>{tr!(order.conversation)}</h2>
                <Conversation order=id messages refresh closed=order.status.is_terminal() />
            </section>
            <section class="card">
                <h2>{tr!(order.timeline)}</h2>
                <ol class="timeline" id="timeline">
                    {timeline.into_iter().map(|n| view! {
                        <li>
                            <span>{lang::notification(locale(), n.kind, n.order_id, &n.data)}</span>
                            <When at=n.created_at />
                        </li>
                    }).collect_view()}
                </ol>
            </section>
            {(!transactions.is_empty()).then(|| view! {
                <section class="card">
                    <h2>{tr!(nav.transactions)}</h2>
                    <ul class="plain">
                        {transactions.into_iter().map(|tx| view! {
                            <li>
                                {tx.provider.as_str()} " · " <Money tiyin=tx.amount /> " · "
                                <span class=format!("txn txn-{}", tx.status.as_str())>
                                    {lang::transaction_status(locale(), tx.status)}
                                </span>
                                " · " <When at=tx.created_at />
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
            })}
        </div>
    }
}

#[component]
fn Conversation(
    order: i64,
    messages: Vec<crate::models::Message>,
    refresh: RwSignal<u32>,
    closed: bool,
) -> impl IntoView {
    let session = expect_context::<SessionCtx>();
    let me = move || session.get().map(|s| s.user.id);
    let text = RwSignal::new(String::new());
    let send = Action::new(move |body: &String| {
        let body = body.clone();
        async move { api::post_message(order, body).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = send.value().get() {
            text.set(String::new());
            refresh.update(|n| *n += 1);
        }
    });
    let error = Signal::derive(move || send.value().get().and_then(Result::err));
    let empty = messages.is_empty();
    view! {
        <ol class="messages" id="messages">
            {empty.then(|| view! { <li class="empty">{tr!(order.no_messages)}</li> })}
            {messages.into_iter().map(|m| {
                let sender = m.sender.id;
                view! {
                    <li class="message" class:mine=move || me() == Some(sender)>
                        <strong>{m.sender.full_name.clone()}</strong>
                        <p>{m.text.clone()}</p>
                        <When at=m.created_at />
                    </li>
                }
            }).collect_view()}
        </ol>
        {(!closed).then(|| view! {
            <form class="form send" on:submit=move |ev| {
                ev.prevent_default();
                let body = text.get_untracked();
                if !body.trim().is_empty() { send.dispatch(body); }
            }>
                <label>
                    <span class="sr-only">{tr!(order.message)}</span>
                    <textarea id="message-text" rows="2" maxlength="2000" required
                        placeholder=tr!(order.message_hint)
                        prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                </label>
                <FieldError error field="text" />
                <button type="submit" id="send-message" disabled=move || send.pending().get()>{tr!(order.send)}</button>
            </form>
        })}
    }
}
