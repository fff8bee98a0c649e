//! `/settings`: where the caller's notifications reach them away from the page (each channel's state and switch,
//! which kinds go where, quiet hours, the digest, a test message, the Telegram link), and `/admin/deliveries`, the
//! delivery log. Both are plain forms and links: they work without JavaScript.

use leptos::{prelude::*, server_fn::ServerFn as _};

use crate::{
    api::{
        self, CreateTelegramLink, DeleteTelegramLink, SendTestNotification,
        UpdateNotificationSettings,
    },
    lang,
    models::{
        NotificationKind, Role,
        delivery::{Channel, Delivery, DeliveryStatus, NotificationSettings},
    },
    ui::{
        Guard, locale,
        widgets::{Empty, ErrorBox, FieldError, Listed, Loading, When, page_param, query_param},
    },
};

/// A channel's label.
fn channel_name(channel: Channel) -> String {
    match channel {
        Channel::Telegram => "Telegram".to_owned(),
        Channel::WebPush => tr!(settings.web_push).to_owned(),
        Channel::Email => tr!(settings.email).to_owned(),
    }
}

/// `/settings`.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! { <Guard view=|_| view! { <SettingsBody /> } /> }
}

#[component]
fn SettingsBody() -> impl IntoView {
    let settings = Resource::new(|| (), |()| api::get_notification_settings());
    let vapid = Resource::new(|| (), |()| api::get_vapid_public_key());
    let save = ServerAction::<UpdateNotificationSettings>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let saved = query_param("saved").get_untracked().is_some();
    let tested = query_param("tested").get_untracked();
    view! {
        <h1>{tr!(settings.title)}</h1>
        {saved.then(|| view! { <p class="ok" role="status">{tr!(common.saved)}</p> })}
        {tested.map(|n| view! { <p class="ok" role="status" id="tested">{tr!(settings.tested)} " " {n}</p> })}
        {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <ErrorBox error=e /> })}
        <Suspense fallback=|| view! { <Loading /> }>
            {move || settings.get().map(|r| match r {
                Ok(s) => {
                    let vapid = vapid.get().and_then(Result::ok).flatten();
                    view! { <SettingsForm s vapid save error /> }.into_any()
                }
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn SettingsForm(
    s: NotificationSettings,
    /// The VAPID public key, when Web Push is configured here.
    vapid: Option<String>,
    save: ServerAction<UpdateNotificationSettings>,
    error: Signal<Option<api::ApiError>>,
) -> impl IntoView {
    let c = s.channels.clone();
    let switches: Vec<(Channel, bool)> = Channel::ALL
        .iter()
        .map(|&channel| {
            let on = match channel {
                Channel::Telegram => c.telegram.enabled,
                Channel::WebPush => c.web_push.enabled,
                Channel::Email => c.email.enabled,
            };
            (channel, on)
        })
        .collect();
    // Each kind's row: every channel with whether the kind goes there.
    let grid: Vec<(NotificationKind, Vec<(Channel, bool)>)> = NotificationKind::ALL
        .iter()
        .map(|&kind| {
            let to = s.kinds.get(kind.as_str());
            let cells = Channel::ALL
                .iter()
                .map(|&ch| (ch, to.is_some_and(|channels| channels.contains(&ch))))
                .collect();
            (kind, cells)
        })
        .collect();
    let quiet = s.quiet_hours.clone();
    let telegram = if !c.telegram.available {
        view! { <p class="muted">{tr!(settings.telegram_off)}</p> }.into_any()
    } else if c.telegram.linked {
        view! {
            <p class="ok" id="telegram-state">{tr!(settings.linked)}</p>
            <form method="post" action=DeleteTelegramLink::url() class="inline">
                <button type="submit" class="link danger">{tr!(settings.unlink)}</button>
            </form>
        }
        .into_any()
    } else {
        view! {
            <p class="muted" id="telegram-state">{tr!(settings.not_linked)}</p>
            <form method="post" action=CreateTelegramLink::url() class="inline">
                <button type="submit" class="secondary" id="link-telegram">{tr!(settings.link)}</button>
            </form>
        }
        .into_any()
    };
    view! {
        <section class="card channels">
            <h2>{tr!(settings.channels)}</h2>
            <dl>
                <dt>"Telegram"</dt>
                <dd>{telegram} <LastError error=c.telegram.last_error.clone() /></dd>
                <dt>{tr!(settings.web_push)}</dt>
                <dd>
                    <span id="push-state">{tr!(settings.devices)} ": " {c.web_push.subscriptions}</span>
                    // Subscribing takes the browser's Push API: the shell's script shows the button where it can
                    // (see `forms.js`).
                    {vapid.map(|key| view! {
                        " "
                        <button type="button" class="secondary" id="enable-push" data-key=key
                            data-denied=tr!(settings.push_denied) hidden>
                            {tr!(settings.enable_push)}
                        </button>
                        <span class="field-error" id="push-error" role="alert" hidden></span>
                    })}
                    <LastError error=c.web_push.last_error.clone() />
                </dd>
                <dt>{tr!(settings.email)}</dt>
                <dd>
                    {match c.email.address {
                        Some(a) => view! { <span>{a}</span> }.into_any(),
                        None => view! { <span class="muted">{tr!(settings.no_email)}</span> }.into_any(),
                    }}
                    <LastError error=c.email.last_error.clone() />
                </dd>
            </dl>
            <form method="post" action=SendTestNotification::url() class="inline">
                <button type="submit" class="secondary" id="send-test">{tr!(settings.test)}</button>
            </form>
        </section>
        <ActionForm action=save attr:class="form card" attr:id="notification-settings">
            <fieldset>
                <legend>{tr!(settings.switches)}</legend>
                {switches.into_iter().map(|(ch, on)| view! {
                    <label class="check">
                        <input type="checkbox" name="channels[]" value=ch.as_str() checked=on />
                        {channel_name(ch)}
                    </label>
                }).collect_view()}
            </fieldset>
            <div class="table-wrap">
                <table class="routes">
                    <caption>{tr!(settings.routes)}</caption>
                    <thead><tr>
                        <th scope="col"></th>
                        {Channel::ALL
                            .iter()
                            .map(|&ch| view! { <th scope="col">{channel_name(ch)}</th> })
                            .collect_view()}
                    </tr></thead>
                    <tbody>
                        {grid.into_iter().map(|(kind, cells)| view! {
                            <tr>
                                <th scope="row">{lang::kind(locale(), kind)}</th>
                                {cells.into_iter().map(|(ch, on)| view! {
                                    <td>
                                        <input
                                            type="checkbox"
                                            name="routes[]"
                                            value=format!("{}:{}", kind.as_str(), ch.as_str())
                                            checked=on
                                            aria-label=format!("{} · {}", lang::kind(locale(), kind), channel_name(ch))
                                        />
                                    </td>
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <fieldset>
                <legend>{tr!(settings.quiet)}</legend>
                <label class="check">
                    <input type="checkbox" name="quiet" value="on" checked=quiet.is_some() />
                    {tr!(settings.quiet_on)}
                </label>
                <label>
                    {tr!(settings.from)}
                    <input
                        type="time"
                        name="quiet_from"
                        value=quiet.as_ref().map_or_else(|| "22:00".to_owned(), |q| q.from.clone())
                    />
                </label>
                <label>
                    {tr!(settings.to)}
                    <input
                        type="time"
                        name="quiet_to"
                        value=quiet.as_ref().map_or_else(|| "08:00".to_owned(), |q| q.to.clone())
                    />
                </label>
                <FieldError error field="quiet_hours" />
                <FieldError error field="quiet_hours.from" />
                <FieldError error field="quiet_hours.to" />
            </fieldset>
            <label>
                {tr!(settings.digest)}
                <select name="digest_minutes">
                    {[0, 15, 60].into_iter().map(|m| view! {
                        <option value=m selected=s.digest_minutes == m>
                            {match m {
                                0 => tr!(settings.digest_off).to_owned(),
                                15 => tr!(settings.digest_15).to_owned(),
                                _ => tr!(settings.digest_60).to_owned(),
                            }}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <FieldError error field="digest_minutes" />
            <button type="submit">{tr!(settings.save)}</button>
        </ActionForm>
    }
}

/// Why a channel's latest message has not gone out, if it has not.
#[component]
fn LastError(error: Option<String>) -> impl IntoView {
    error.map(
        |e| view! { <p class="field-error last-error">{tr!(settings.last_error)} ": " {e}</p> },
    )
}

/// `/admin/deliveries`: the delivery log.
#[component]
pub fn DeliveriesPage() -> impl IntoView {
    view! { <Guard roles=&[Role::Admin] view=|_| view! { <DeliveriesBody /> } /> }
}

#[component]
fn DeliveriesBody() -> impl IntoView {
    let page = page_param();
    let status = query_param("status");
    let channel = query_param("channel");
    let user = query_param("user_id");
    let list = Resource::new(
        move || (page.get(), status.get(), channel.get(), user.get()),
        |(p, s, c, u)| {
            api::list_deliveries(
                p,
                s.and_then(|x| x.parse().ok()),
                c.and_then(|x| x.parse().ok()),
                u.and_then(|x| x.parse().ok()),
            )
        },
    );
    view! {
        <h1>{tr!(settings.deliveries)}</h1>
        <form class="filters" method="get">
            <label>
                {tr!(orders.status)}
                <select name="status">
                    <option value="">{tr!(common.all)}</option>
                    {DeliveryStatus::ALL.iter().map(|&x| view! {
                        <option value=x.as_str() selected=move || status.get().as_deref() == Some(x.as_str())>
                            {x.as_str()}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                {tr!(settings.channel)}
                <select name="channel">
                    <option value="">{tr!(common.all)}</option>
                    {Channel::ALL.iter().map(|&x| view! {
                        <option value=x.as_str() selected=move || channel.get().as_deref() == Some(x.as_str())>
                            {channel_name(x)}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                {tr!(settings.user)}
                <input name="user_id" inputmode="numeric" size="8" value=move || user.get() />
            </label>
            <button type="submit" class="secondary">{tr!(common.filter)}</button>
        </form>
        <Listed
            list
            empty=|| view! { <Empty><p>{tr!(settings.no_deliveries)}</p></Empty> }
            rows={move |items: Vec<Delivery>| view! {
                <div class="table-wrap">
                    <table id="deliveries">
                        <thead><tr>
                            <th scope="col">"#"</th>
                            <th scope="col">{tr!(settings.user)}</th>
                            <th scope="col">{tr!(settings.channel)}</th>
                            <th scope="col">{tr!(orders.status)}</th>
                            <th scope="col">{tr!(settings.attempts)}</th>
                            <th scope="col">{tr!(settings.sent_at)}</th>
                            <th scope="col">{tr!(settings.last_error)}</th>
                        </tr></thead>
                        <tbody>
                            {items.into_iter().map(|d| view! {
                                <tr data-delivery=d.id data-status=d.status.as_str()>
                                    <td>{d.id}</td>
                                    <td>{d.user_id}</td>
                                    <td>{channel_name(d.channel)}</td>
                                    <td>{d.status.as_str()}</td>
                                    <td>{d.attempts}</td>
                                    <td>{d.sent_at.map(|at| view! { <When at /> })}</td>
                                    <td class="muted">{d.last_error}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }}
        />
    }
}
