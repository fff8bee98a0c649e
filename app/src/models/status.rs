//! The order status machine (API.md): which moves exist and who may make each.

use super::{OrderStatus, Role};

/// Who asks for a status change, relative to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The order's client.
    Client,
    /// The worker assigned to the order.
    AssignedWorker,
    /// Any admin.
    Admin,
    /// A confirmed or reversed payment (Payme or Click).
    Payment,
}

impl Party {
    /// The party a visible order's viewer of `role` is. Visibility (a client's own order, a worker's
    /// assigned order) is checked before this is asked.
    pub fn of(role: Role) -> Self {
        match role {
            Role::Client => Self::Client,
            Role::Worker => Self::AssignedWorker,
            Role::Admin => Self::Admin,
        }
    }
}

/// The verdict on a requested move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The move exists and this party may make it.
    Allowed,
    /// `from == to`: nothing to do.
    Unchanged,
    /// The move exists, but not for this party.
    Forbidden,
    /// The machine has no such move.
    Invalid,
}

impl OrderStatus {
    /// The parties that may move an order from `self` to `to`; empty when the machine has no such move.
    pub fn movers(self, to: Self) -> &'static [Party] {
        use OrderStatus::*;
        use Party::*;
        match (self, to) {
            (Pending, Paid) => &[Payment, AssignedWorker, Admin],
            (Paid, InProcess) | (InProcess, Completed) => &[AssignedWorker, Admin],
            (Pending, Canceled) => &[Client, AssignedWorker, Admin],
            (Paid, Canceled) => &[Admin, Payment],
            (InProcess, Canceled) => &[Admin],
            _ => &[],
        }
    }

    /// Judges a move of an order from `self` to `to` asked by `party`.
    pub fn transition(self, to: Self, party: Party) -> Transition {
        if self == to {
            return Transition::Unchanged;
        }
        let movers = self.movers(to);
        if movers.is_empty() {
            Transition::Invalid
        } else if movers.contains(&party) {
            Transition::Allowed
        } else {
            Transition::Forbidden
        }
    }

    /// The statuses `party` may move an order in `self` to, in machine order (for the UI's buttons).
    pub fn next_for(self, party: Party) -> Vec<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|&to| self.transition(to, party) == Transition::Allowed)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn terminal_statuses_allow_no_move_for_anyone() {
        for from in [Completed, Canceled] {
            for &to in OrderStatus::ALL {
                for party in [
                    Party::Client,
                    Party::AssignedWorker,
                    Party::Admin,
                    Party::Payment,
                ] {
                    let verdict = from.transition(to, party);
                    assert!(
                        matches!(verdict, Transition::Invalid | Transition::Unchanged),
                        "{from} -> {to} by {party:?} gave {verdict:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_client_may_only_cancel_a_pending_order() {
        assert_eq!(Pending.next_for(Party::Client), vec![Canceled]);
        for from in [Paid, InProcess, Completed, Canceled] {
            assert!(
                from.next_for(Party::Client).is_empty(),
                "client could move {from}"
            );
        }
    }

    #[test]
    fn a_worker_moves_forward_and_cancels_only_pending() {
        assert_eq!(
            Pending.next_for(Party::AssignedWorker),
            vec![Paid, Canceled]
        );
        assert_eq!(Paid.next_for(Party::AssignedWorker), vec![InProcess]);
        assert_eq!(InProcess.next_for(Party::AssignedWorker), vec![Completed]);
    }

    #[test]
    fn skipping_a_status_is_invalid_even_for_an_admin() {
        assert_eq!(
            Pending.transition(InProcess, Party::Admin),
            Transition::Invalid
        );
        assert_eq!(
            Pending.transition(Completed, Party::Admin),
            Transition::Invalid
        );
        assert_eq!(Paid.transition(Pending, Party::Admin), Transition::Invalid);
        assert_eq!(
            Paid.transition(Completed, Party::Admin),
            Transition::Invalid
        );
    }
}
