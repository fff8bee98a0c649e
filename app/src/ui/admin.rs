//! The admin pages: the dashboard (charts drawn in SVG; figures and recent events live), users, services and
//! their workers, and transactions (live).

use leptos::{prelude::*, server_fn::ServerFn as _};

use crate::{
    api::{
        self, CreateService, CreateUser, DeactivateUser, RetryFiscal, SetServiceFiscal,
        SetServiceWorkers, SetTaxId,
    },
    lang,
    models::{
        Dashboard, FiscalStatus, Notification, PaymentProvider, Role, RosterEntry, Service,
        Transaction, TransactionStatus, User,
    },
    ui::{
        Guard, locale,
        widgets::{
            Empty, ErrorBox, FieldError, FormError, Listed, Loading, Money, When, page_param,
            query_param,
        },
    },
};

const ADMIN: &[Role] = &[Role::Admin];

/// `/admin`.
#[component]
pub fn Dashboard() -> impl IntoView {
    view! { <Guard roles=ADMIN view=|_| view! { <DashboardBody /> } /> }
}

#[component]
fn DashboardBody() -> impl IntoView {
    let figures = Resource::new(|| (), |()| api::get_dashboard());
    let recent = Resource::new(|| (), |()| api::list_notifications(1, false, None, None));
    view! {
        <h1>{tr!(dashboard.title)}</h1>
        // Figures and recent events follow the socket's frames (see `live/parts.rs`): the figures as data for
        // the island to count on, the drawing the same component in the browser.
        <Suspense fallback=|| view! { <Loading /> }>
            {move || figures.get().map(|r| match r {
                Ok(d) => {
                    let json = serde_json::to_string(&d).ok();
                    view! { <div data-live="figures" data-figures=json><Figures d /></div> }.into_any()
                }
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
            })}
        </Suspense>
        <section class="card">
            <h2>{tr!(dashboard.recent)}</h2>
            <ul class="feed" id="recent">
                <Suspense fallback=|| ()>
                    {move || recent.get().and_then(Result::ok).map(|l| {
                        l.items.into_iter().take(RECENT).map(|n| view! { <RecentItem n /> }).collect_view()
                    })}
                </Suspense>
            </ul>
        </section>
    }
}

/// How many recent events the dashboard shows.
pub(crate) const RECENT: usize = 10;

/// One recent event of the dashboard.
#[component]
pub(crate) fn RecentItem(n: Notification) -> impl IntoView {
    view! {
        <li class="note" data-id=n.id>
            <a href=format!("/orders/{}", n.order_id)>
                {lang::notification(locale(), n.kind, n.order_id, &n.data)}
            </a>
            <When at=n.created_at />
        </li>
    }
}

/// The dashboard's figures: the totals, the orders by status and the per-day charts. Rendered on the server, and
/// in the browser again after each event changes them.
#[component]
pub(crate) fn Figures(d: Dashboard) -> impl IntoView {
    let by_status: Vec<(String, i64, String)> = d
        .by_status
        .iter()
        .map(|s| {
            (
                lang::status(locale(), s.status),
                s.count,
                format!("status-{}", s.status.as_str()),
            )
        })
        .collect();
    let orders: Vec<Column> = d
        .days
        .iter()
        .map(|x| Column {
            label: lang::day(locale(), x.day),
            value: x.orders,
            shown: lang::number(locale(), x.orders),
            title: lang::number(locale(), x.orders),
        })
        .collect();
    let revenue: Vec<Column> = d
        .days
        .iter()
        .map(|x| Column {
            label: lang::day(locale(), x.day),
            value: x.revenue,
            shown: lang::number(locale(), x.revenue / 100),
            title: lang::money(locale(), x.revenue),
        })
        .collect();
    let total: i64 = d.by_status.iter().map(|s| s.count).sum();
    view! {
        <div class="stats">
            <div class="stat">
                <span>{tr!(dashboard.orders)}</span><strong id="stat-orders">{total}</strong>
            </div>
            <div class="stat">
                <span>{tr!(dashboard.revenue)}</span><strong><Money tiyin=d.revenue /></strong>
            </div>
            <div class="stat">
                <span>{tr!(dashboard.clients)}</span><strong>{d.users.clients}</strong>
            </div>
            <div class="stat">
                <span>{tr!(dashboard.workers)}</span><strong>{d.users.workers}</strong>
            </div>
        </div>
        <div class="charts">
            <figure class="card chart">
                <figcaption>{tr!(dashboard.by_status)}</figcaption>
                <StatusBars rows=by_status />
            </figure>
            <figure class="card chart">
                <figcaption>{tr!(dashboard.per_day)}</figcaption>
                <Columns values=orders class="orders" />
            </figure>
            <figure class="card chart">
                <figcaption>{tr!(dashboard.revenue_per_day)}</figcaption>
                <Columns values=revenue class="revenue" />
            </figure>
        </div>
    }
}

/// Horizontal bars, one per status. (Geometry in whole units: float formatting would add to the WASM.)
#[component]
fn StatusBars(rows: Vec<(String, i64, String)>) -> impl IntoView {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let height = rows.len() * 28;
    view! {
        <svg viewBox=format!("0 0 320 {height}") role="img" class="bars">
            {rows.into_iter().enumerate().map(|(i, (label, value, class))| {
                let y = i * 28;
                let width = 180 * value / max;
                view! {
                    <g class=class>
                        <text x="0" y=y + 18 class="label">{label}</text>
                        <rect x="110" y=y + 5 width=width height="18" rx="3"></rect>
                        <text x=116 + width y=y + 18 class="value">{value}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// One column of a per-day chart: its day, its height, the figure written above it and its tooltip.
struct Column {
    label: String,
    value: i64,
    shown: String,
    title: String,
}

/// Vertical columns, one per day, labelled every other day. The drawing has a margin on both sides so that the
/// first and last labels, centred under their columns, are not clipped.
#[component]
fn Columns(values: Vec<Column>, class: &'static str) -> impl IntoView {
    let max = values.iter().map(|v| v.value).max().unwrap_or(0).max(1);
    let n = i64::try_from(values.len()).unwrap_or(1).max(1);
    let step = 320 / n;
    view! {
        <svg viewBox="-24 0 368 170" role="img" class=format!("columns {class}")>
            <line x1="0" y1="140" x2="320" y2="140" class="axis"></line>
            {values.into_iter().zip(0..).map(|(column, i)| {
                let h = 120 * column.value / max;
                let x = step * i;
                view! {
                    <g>
                        <title>{format!("{}: {}", column.label, column.title)}</title>
                        <rect x=x + 2 y=140 - h width=step - 4 height=h rx="2"></rect>
                        {(column.value > 0).then(|| view! {
                            <text x=x + step / 2 y=136 - h class="value">{column.shown}</text>
                        })}
                        {(i % 2 == 0).then(|| view! {
                            <text x=x + step / 2 y="158" class="label">{column.label.clone()}</text>
                        })}
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// `/admin/users`.
#[component]
pub fn Users() -> impl IntoView {
    view! { <Guard roles=ADMIN view=|s| view! { <UsersBody me=s.user.id /> } /> }
}

#[component]
fn UsersBody(me: i64) -> impl IntoView {
    let page = page_param();
    let role = query_param("role");
    let create = ServerAction::<CreateUser>::new();
    let deactivate = ServerAction::<DeactivateUser>::new();
    let created = query_param("created").get_untracked();
    let users = Resource::new(
        move || (page.get(), role.get()),
        |(p, r)| api::list_roster(p, r.and_then(|r| r.parse().ok())),
    );
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    view! {
        <h1>{tr!(users.title)}</h1>
        {created.map(|name| view! { <p class="ok" role="status">{tr!(users.created)} " " {name}</p> })}
        <details class="card" open=move || error.get().is_some()>
            <summary>{tr!(users.create)}</summary>
            <ActionForm action=create attr:class="form grid-form" attr:id="create-user">
                <label>{tr!(auth.full_name)}<input name="full_name" required maxlength="150" /></label>
                <FieldError error field="full_name" />
                <label>
                    {tr!(auth.username)}
                    <input name="username" required minlength="3" maxlength="150" autocomplete="off" />
                </label>
                <FieldError error field="username" />
                <label>
                    {tr!(auth.password)}
                    <input name="password" type="password" required minlength="8" autocomplete="new-password" />
                </label>
                <FieldError error field="password" />
                <label>
                    {tr!(users.role)}
                    <select name="role">
                        {Role::ALL.iter().map(|&r| view! {
                            <option value=r.as_str() selected=r == Role::Worker>{lang::role(locale(), r)}</option>
                        }).collect_view()}
                    </select>
                </label>
                {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <ErrorBox error=e /> })}
                <button type="submit">{tr!(users.create_button)}</button>
            </ActionForm>
        </details>
        <form class="filters" method="get">
            <label>
                {tr!(users.role)}
                <select name="role">
                    <option value="">{tr!(common.all)}</option>
                    {Role::ALL.iter().map(|&r| view! {
                        <option value=r.as_str() selected=move || role.get().as_deref() == Some(r.as_str())>
                            {lang::role(locale(), r)}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary">{tr!(common.filter)}</button>
        </form>
        {move || deactivate.value().get().and_then(Result::err).map(|e| view! { <ErrorBox error=e /> })}
        <Listed
            list=users
            empty=|| view! { <Empty><p>{tr!(users.empty)}</p></Empty> }
            rows={move |items: Vec<RosterEntry>| view! {
                        <div class="table-wrap">
                            <table>
                                <thead><tr>
                                    <th scope="col">{tr!(auth.full_name)}</th>
                                    <th scope="col">{tr!(auth.username)}</th>
                                    <th scope="col">{tr!(users.role)}</th>
                                    <th scope="col">{tr!(users.state)}</th>
                                    <th scope="col">{tr!(users.tax_id)}</th>
                                    <th scope="col"></th>
                                </tr></thead>
                                <tbody>
                                    {items.into_iter().map(|RosterEntry { user: u, tax_id }| {
                                        let id = u.id;
                                        let worker = u.role == Role::Worker;
                                        view! {
                                            <tr data-user=u.username>
                                                <td>{u.full_name.clone()}</td>
                                                <td>{u.username.clone()}</td>
                                                <td>{lang::role(locale(), u.role)}</td>
                                                <td>
                                                    {if u.is_active {
                                                        view! { <span class="ok">{tr!(users.active)}</span> }.into_any()
                                                    } else {
                                                        view! {
                                                            <span class="muted">{tr!(users.inactive)}</span>
                                                        }.into_any()
                                                    }}
                                                </td>
                                                <td>{worker.then(|| view! { <TaxIdForm id tax_id /> })}</td>
                                                <td>{(u.is_active && id != me).then(|| view! {
                                                    <form method="post" action=DeactivateUser::url() class="inline">
                                                        <input type="hidden" name="id" value=id />
                                                        <button type="submit" class="link danger">
                                                            {tr!(users.deactivate)}
                                                        </button>
                                                    </form>
                                                })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
            }}
        />
    }
}

/// A worker's PINFL or TIN, the seller on their orders' fiscal receipts (blank: the merchant).
#[component]
fn TaxIdForm(id: i64, tax_id: Option<String>) -> impl IntoView {
    let saved = query_param("saved").get_untracked() == Some(id.to_string());
    view! {
        <form method="post" action=SetTaxId::url() class="inline tax-id">
            <input type="hidden" name="id" value=id />
            <input
                name="tax_id"
                inputmode="numeric"
                pattern="[0-9]{9}|[0-9]{14}"
                maxlength="14"
                size="14"
                aria-label=tr!(users.tax_id)
                value=tax_id.unwrap_or_default()
            />
            <button type="submit" class="link">{tr!(users.save_tax_id)}</button>
            {saved.then(|| view! { <span class="ok" role="status">{tr!(common.saved)}</span> })}
        </form>
    }
}

/// `/admin/services`.
#[component]
pub fn Services() -> impl IntoView {
    view! { <Guard roles=ADMIN view=|_| view! { <ServicesBody /> } /> }
}

#[component]
fn ServicesBody() -> impl IntoView {
    let page = page_param();
    let create = ServerAction::<CreateService>::new();
    let save = ServerAction::<SetServiceWorkers>::new();
    let services = Resource::new(move || page.get(), |p| api::list_services(p, true));
    let workers = Resource::new(|| (), |()| api::list_users(1, Some(Role::Worker)));
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    view! {
        <h1>{tr!(services.admin_title)}</h1>
        <details class="card" open=move || error.get().is_some()>
            <summary>{tr!(services.create)}</summary>
            <ActionForm action=create attr:class="form grid-form" attr:id="create-service">
                <label>{tr!(services.name)}<input name="name" required maxlength="200" /></label>
                <FieldError error field="name" />
                <label>
                    {tr!(services.price_som)}
                    <input name="price" required inputmode="numeric" pattern="[0-9 ,]+" />
                </label>
                <FieldError error field="price" />
                <label class="wide">
                    {tr!(services.description)}
                    <textarea name="description" rows="3" maxlength="2000"></textarea>
                </label>
                <FieldError error field="description" />
                <label>
                    {tr!(services.ikpu_code)}
                    <input name="ikpu_code" inputmode="numeric" pattern="[0-9]{17}" maxlength="17" />
                </label>
                <FieldError error field="ikpu_code" />
                <label>{tr!(services.package_code)}<input name="package_code" maxlength="20" /></label>
                <FieldError error field="package_code" />
                <label>
                    {tr!(services.vat_percent)}
                    <input name="vat_percent" type="number" min="0" max="100" step="1" />
                </label>
                <FieldError error field="vat_percent" />
                {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <ErrorBox error=e /> })}
                <button type="submit">{tr!(services.create_button)}</button>
            </ActionForm>
        </details>
        <FormError error=Signal::derive(move || save.value().get().and_then(Result::err)) />
        <Listed
            list=services
            empty=|| view! { <Empty><p>{tr!(services.empty)}</p></Empty> }
            rows={move |items: Vec<Service>| {
                let all_workers = workers.get().and_then(Result::ok).map(|l| l.items).unwrap_or_default();
                view! {
                    <div class="grid">
                        {items
                            .into_iter()
                            .map(|s| view! { <ServiceAdmin service=s workers=all_workers.clone() /> })
                            .collect_view()}
                    </div>
                }
            }}
        />
    }
}

/// A service with the checkboxes of its workers (a plain form; the page comes back saying it saved).
#[component]
fn ServiceAdmin(service: Service, workers: Vec<User>) -> impl IntoView {
    let id = service.id;
    let saved = query_param("saved").get_untracked() == Some(id.to_string());
    let shown: Vec<i64> = workers
        .iter()
        .filter(|w| w.is_active)
        .map(|w| w.id)
        .collect();
    view! {
        <article class="card service" data-service=service.name>
            <h2>
                {service.name.clone()}
                {(!service.is_active).then(|| view! { <small class="muted">" · " {tr!(users.inactive)}</small> })}
            </h2>
            <p class="price"><Money tiyin=service.price /></p>
            <p>{service.description.clone()}</p>
            {service.ikpu_code.clone().map(|code| view! {
                <p class="muted fiscal-codes">
                    {tr!(services.ikpu_code)} ": " {code}
                    {service.package_code.clone().map(|p| view! { " · " {tr!(services.package_code)} ": " {p} })}
                    " · " {tr!(services.vat_percent)} ": " {service.vat_percent}
                </p>
            })}
            <form method="post" action=SetServiceWorkers::url()>
                <input type="hidden" name="id" value=id />
                // Workers assigned but not listed here (inactive, or beyond the first page) stay assigned.
                {service.worker_ids.iter().filter(|&&wid| !shown.contains(&wid)).map(|&wid| view! {
                    <input type="hidden" name="worker_ids[]" value=wid />
                }).collect_view()}
                <fieldset>
                    <legend>{tr!(services.workers)}</legend>
                    {workers.iter().filter(|w| shown.contains(&w.id)).map(|w| view! {
                        <label class="check">
                            <input
                                type="checkbox"
                                name="worker_ids[]"
                                value=w.id
                                checked=service.worker_ids.contains(&w.id)
                            />
                            {w.full_name.clone()}
                        </label>
                    }).collect_view()}
                </fieldset>
                <button type="submit" class="secondary">{tr!(services.save_workers)}</button>
            </form>
            <details class="fiscal-edit">
                <summary>{tr!(services.edit_fiscal)}</summary>
                <form method="post" action=SetServiceFiscal::url() class="form">
                    <input type="hidden" name="id" value=id />
                    <label>
                        {tr!(services.ikpu_code)}
                        <input
                            name="ikpu_code"
                            inputmode="numeric"
                            pattern="[0-9]{17}"
                            maxlength="17"
                            value=service.ikpu_code.clone().unwrap_or_default()
                        />
                    </label>
                    <label>
                        {tr!(services.package_code)}
                        <input
                            name="package_code"
                            maxlength="20"
                            value=service.package_code.clone().unwrap_or_default()
                        />
                    </label>
                    <label>
                        {tr!(services.vat_percent)}
                        <input
                            name="vat_percent"
                            type="number"
                            min="0"
                            max="100"
                            step="1"
                            value=service.vat_percent
                        />
                    </label>
                    <button type="submit" class="secondary">{tr!(services.save_fiscal)}</button>
                </form>
            </details>
            {saved.then(|| view! { <p class="ok" role="status">{tr!(common.saved)}</p> })}
        </article>
    }
}

/// `/admin/transactions`.
#[component]
pub fn Transactions() -> impl IntoView {
    view! { <Guard roles=ADMIN view=|_| view! { <TransactionsBody /> } /> }
}

#[component]
fn TransactionsBody() -> impl IntoView {
    let page = page_param();
    let provider = query_param("provider");
    let status = query_param("status");
    let list = Resource::new(
        move || (page.get(), provider.get(), status.get()),
        |(p, pr, st)| {
            api::list_transactions(
                p,
                pr.and_then(|x| x.parse().ok()),
                st.and_then(|x| x.parse().ok()),
            )
        },
    );
    view! {
        <h1>{tr!(nav.transactions)}</h1>
        <form class="filters" method="get">
            <label>
                {tr!(transactions.provider)}
                <select name="provider">
                    <option value="">{tr!(common.all)}</option>
                    {PaymentProvider::ALL.iter().map(|&p| view! {
                        <option value=p.as_str() selected=move || provider.get().as_deref() == Some(p.as_str())>
                            {p.as_str()}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                {tr!(orders.status)}
                <select name="status">
                    <option value="">{tr!(common.all)}</option>
                    {TransactionStatus::ALL.iter().map(|&s| view! {
                        <option value=s.as_str() selected=move || status.get().as_deref() == Some(s.as_str())>
                            {lang::transaction_status(locale(), s)}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary">{tr!(common.filter)}</button>
        </form>
        // Payments arrive live: a payment's frame names its transaction, which the island reads (see
        // `live/parts.rs`).
        <div
            data-live="transactions"
            data-page=page.get_untracked()
            data-provider=provider.get_untracked()
            data-status=status.get_untracked()
        >
            <Listed
                list
                empty=|| view! { <Empty><p>{tr!(transactions.empty)}</p></Empty> }
                rows={move |items: Vec<Transaction>| view! { <TransactionsTable items /> }}
            />
        </div>
    }
}

/// A page of transactions (rendered on the server, and in the browser when the first of an empty list arrives).
#[component]
pub(crate) fn TransactionsTable(items: Vec<Transaction>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table>
                <thead><tr>
                    <th scope="col">"#"</th>
                    <th scope="col">{tr!(transactions.order)}</th>
                    <th scope="col">{tr!(transactions.provider)}</th>
                    <th scope="col" class="num">{tr!(orders.price)}</th>
                    <th scope="col">{tr!(orders.status)}</th>
                    <th scope="col">{tr!(transactions.fiscal)}</th>
                    <th scope="col">{tr!(orders.created)}</th>
                </tr></thead>
                <tbody>
                    {items.into_iter().map(|tx| view! { <TransactionRow tx /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One transaction of the list.
#[component]
pub(crate) fn TransactionRow(tx: Transaction) -> impl IntoView {
    view! {
        <tr data-txn=tx.id>
            <td>{tx.id}</td>
            <td><a href=format!("/orders/{}", tx.order_id)>"#" {tx.order_id}</a></td>
            <td>{tx.provider.as_str()}</td>
            <td class="num"><Money tiyin=tx.amount /></td>
            <td>
                <span class=format!("txn txn-{}", tx.status.as_str())>
                    {lang::transaction_status(locale(), tx.status)}
                </span>
            </td>
            <td><FiscalState tx=tx.clone() /></td>
            <td><When at=tx.created_at /></td>
        </tr>
    }
}

/// A transaction's fiscal receipt: its state, its link once known, and a retry of a failed Click submission.
#[component]
fn FiscalState(tx: Transaction) -> impl IntoView {
    let retry = tx.fiscal_status == FiscalStatus::Failed && tx.provider == PaymentProvider::Click;
    view! {
        <span class=format!("fiscal fiscal-{}", tx.fiscal_status.as_str())>
            {lang::fiscal_status(locale(), tx.fiscal_status)}
        </span>
        {tx.fiscal_receipt_url.map(|url| view! {
            " · " <a href=url target="_blank" rel="noopener noreferrer">{tr!(transactions.receipt)}</a>
        })}
        {retry.then(|| view! {
            <form method="post" action=RetryFiscal::url() class="inline">
                <input type="hidden" name="id" value=tx.id />
                <button type="submit" class="secondary">{tr!(transactions.retry)}</button>
            </form>
        })}
    }
}
