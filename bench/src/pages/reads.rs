//! Every page and list a user opens, as the reads the pages phase times: each role's server-rendered pages, each
//! REST list with its filters and a deep page, the unread count, the feed after an id, an order and its parts, the
//! dashboard.

use super::subjects::{Subject, Subjects};

/// How a read is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A server-rendered page, fetched as a browser does: `Accept: text/html` and the session cookie.
    Page,
    /// A REST read with the bearer token.
    Api,
}

/// Where a deep read goes, found from its list's `count` just before it is timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deep {
    /// `offset=` the last 20 of the read's own list.
    Offset,
    /// `page=` the last page (of 20) of the REST list at this path.
    LastPage(String),
}

/// One read, made as one user.
#[derive(Debug, Clone)]
pub struct Read {
    /// The read for the report, the same on every database: who, and the path with its ids named.
    pub label: String,
    /// The path requested (for a deep read, before its offset or page is added).
    pub path: String,
    pub shape: Shape,
    /// The access token it is made with.
    pub token: String,
    /// The username its pages must show (a page without it was not rendered for the user).
    pub username: String,
    pub deep: Option<Deep>,
}

impl Read {
    /// The query parameter a deep read adds, and its value from the list's `count`.
    pub fn deep_query(&self, count: i64) -> Option<String> {
        let join = if self.path.contains('?') { '&' } else { '?' };
        match self.deep.as_ref()? {
            Deep::Offset => Some(format!("{join}offset={}", (count - 20).max(0))),
            Deep::LastPage(_) => Some(format!("{join}page={}", ((count + 19) / 20).max(1))),
        }
    }
}

/// The reads of one role, built against its subject.
struct Reads<'a> {
    who: &'static str,
    subject: &'a Subject,
    subjects: &'a Subjects,
    out: Vec<Read>,
}

impl Reads<'_> {
    /// The template with its ids filled in: `{order}`, `{after}`, `{service}`, `{client}`, `{worker}`.
    fn fill(&self, template: &str) -> String {
        template
            .replace("{order}", &self.subject.order.to_string())
            .replace("{after}", &self.subject.after_id.to_string())
            .replace("{service}", &self.subjects.service.to_string())
            .replace("{client}", &self.subjects.client.id.to_string())
            .replace("{worker}", &self.subjects.worker.id.to_string())
    }

    fn push(&mut self, shape: Shape, template: &str, deep: Option<Deep>) {
        let shown = match (&deep, template.contains('?')) {
            (None, _) => template.to_owned(),
            (Some(Deep::Offset), false) => format!("{template}?offset={{count − 20}}"),
            (Some(Deep::Offset), true) => format!("{template}&offset={{count − 20}}"),
            (Some(Deep::LastPage(_)), _) => format!("{template}?page={{last}}"),
        };
        let label = match shape {
            Shape::Page => format!("{}: page `{shown}`", self.who),
            Shape::Api => format!("{}: `GET /api/v1{shown}`", self.who),
        };
        let path = match shape {
            Shape::Page => self.fill(template),
            Shape::Api => format!("/api/v1{}", self.fill(template)),
        };
        self.out.push(Read {
            label,
            path,
            shape,
            token: self.subject.token.clone(),
            username: self.subject.username.clone(),
            deep,
        });
    }

    fn pages(&mut self, templates: &[&str]) {
        for t in templates {
            self.push(Shape::Page, t, None);
        }
    }

    fn apis(&mut self, templates: &[&str]) {
        for t in templates {
            self.push(Shape::Api, t, None);
        }
    }

    fn deep(&mut self, template: &str) {
        self.push(Shape::Api, template, Some(Deep::Offset));
    }
}

/// Every read of the phase, client's first, then the worker's, then the admin's.
pub fn reads(subjects: &Subjects) -> Vec<Read> {
    let mut all = Vec::new();
    let roles = [
        ("client", &subjects.client),
        ("worker", &subjects.worker),
        ("admin", &subjects.admin),
    ];
    for (who, subject) in roles {
        let mut r = Reads {
            who,
            subject,
            subjects,
            out: Vec::new(),
        };
        match who {
            "client" => {
                r.pages(&[
                    "/",
                    "/orders",
                    "/orders?status=completed",
                    "/orders/{order}",
                    "/notifications",
                    "/notifications?unread=1",
                    "/services",
                ]);
                r.apis(&["/orders", "/orders?status=completed"]);
                r.deep("/orders");
                r.apis(&[
                    "/orders/{order}",
                    "/orders/{order}/timeline",
                    "/orders/{order}/messages",
                    "/notifications",
                    "/notifications?unread=true",
                    "/notifications?kind=order_status_changed",
                    "/notifications?order_id={order}",
                    "/notifications?after_id={after}",
                ]);
                r.deep("/notifications");
                r.apis(&["/notifications/unread-count", "/transactions"]);
                r.deep("/transactions");
                r.apis(&["/services"]);
            }
            "worker" => {
                r.pages(&["/", "/orders", "/orders/{order}", "/notifications"]);
                r.apis(&["/orders", "/orders?status=in_process"]);
                r.deep("/orders");
                r.apis(&[
                    "/orders/{order}",
                    "/notifications",
                    "/notifications?unread=true",
                    "/notifications?after_id={after}",
                ]);
                r.deep("/notifications");
                r.apis(&["/notifications/unread-count"]);
            }
            _ => {
                r.pages(&["/", "/orders", "/orders?status=pending"]);
                r.push(
                    Shape::Page,
                    "/orders",
                    Some(Deep::LastPage("/api/v1/orders?limit=1".to_owned())),
                );
                r.pages(&[
                    "/orders/{order}",
                    "/notifications",
                    "/admin",
                    "/admin/users",
                    "/admin/services",
                    "/admin/transactions",
                    "/admin/transactions?status=confirmed",
                ]);
                r.apis(&[
                    "/orders",
                    "/orders?status=pending",
                    "/orders?service_id={service}",
                    "/orders?client_id={client}",
                    "/orders?worker_id={worker}",
                ]);
                r.deep("/orders");
                r.apis(&[
                    "/orders/{order}/timeline",
                    "/notifications",
                    "/notifications?unread=true",
                    "/notifications?kind=payment_confirmed",
                    "/notifications?order_id={order}",
                    "/notifications?after_id={after}",
                ]);
                r.deep("/notifications");
                r.apis(&[
                    "/notifications/unread-count",
                    "/transactions",
                    "/transactions?status=confirmed",
                    "/transactions?provider=click",
                    "/transactions?order_id={order}",
                ]);
                r.deep("/transactions");
                r.apis(&["/users", "/users?role=worker"]);
                r.deep("/users");
                r.apis(&[
                    "/users/stats",
                    "/services?is_active=true",
                    "/services/{service}/workers",
                ]);
            }
        }
        all.extend(r.out);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(id: i64, order: i64, after_id: i64) -> Subject {
        Subject {
            id,
            username: format!("user{id}"),
            token: format!("token{id}"),
            orders: 0,
            notifications: 0,
            unread: 0,
            after_id,
            order,
        }
    }

    fn subjects() -> Subjects {
        Subjects {
            client: subject(11, 500, 900),
            worker: subject(22, 600, 800),
            admin: subject(33, 500, 990),
            service: 7,
        }
    }

    #[test]
    fn labels_name_the_ids_and_paths_carry_the_subjects_own() {
        let all = reads(&subjects());
        let find = |label: &str| {
            all.iter()
                .find(|r| r.label == label)
                .unwrap_or_else(|| panic!("no read {label}"))
        };
        let order_page = find("client: page `/orders/{order}`");
        assert_eq!(
            (order_page.path.as_str(), order_page.shape),
            ("/orders/500", Shape::Page)
        );
        assert_eq!(order_page.token, "token11");
        let feed = find("worker: `GET /api/v1/notifications?after_id={after}`");
        assert_eq!(feed.path, "/api/v1/notifications?after_id=800");
        let by_client = find("admin: `GET /api/v1/orders?client_id={client}`");
        assert_eq!(by_client.path, "/api/v1/orders?client_id=11");
        assert_eq!(by_client.username, "user33");
    }

    #[test]
    fn a_deep_read_goes_to_the_last_twenty_or_the_last_page() {
        let all = reads(&subjects());
        let deep = all
            .iter()
            .find(|r| r.label == "admin: `GET /api/v1/orders?offset={count − 20}`")
            .expect("the admin's deep order list");
        assert_eq!(
            deep.deep_query(1_000_005).as_deref(),
            Some("?offset=999985")
        );
        assert_eq!(
            deep.deep_query(3).as_deref(),
            Some("?offset=0"),
            "a short list from its start"
        );
        let last = all
            .iter()
            .find(|r| r.label == "admin: page `/orders?page={last}`")
            .expect("the admin's last page of orders");
        assert_eq!(last.deep_query(41).as_deref(), Some("?page=3"));
        assert_eq!(last.deep_query(0).as_deref(), Some("?page=1"));
    }

    #[test]
    fn every_role_reads_its_pages_lists_and_unread_count_and_no_read_twice() {
        let all = reads(&subjects());
        for who in ["client", "worker", "admin"] {
            for needed in [
                format!("{who}: page `/notifications`"),
                format!("{who}: `GET /api/v1/notifications/unread-count`"),
                format!("{who}: `GET /api/v1/notifications?after_id={{after}}`"),
                format!("{who}: `GET /api/v1/orders?offset={{count − 20}}`"),
            ] {
                assert!(all.iter().any(|r| r.label == needed), "missing {needed}");
            }
        }
        for page in [
            "/admin",
            "/admin/users",
            "/admin/services",
            "/admin/transactions",
        ] {
            let label = format!("admin: page `{page}`");
            assert!(all.iter().any(|r| r.label == label), "missing {label}");
        }
        let mut labels: Vec<&str> = all.iter().map(|r| r.label.as_str()).collect();
        labels.sort_unstable();
        let before = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), before, "a read is listed twice");
    }
}
