//! Property tests of Click's so'm amounts: exact round trips, and no panic on anything.

use proptest::prelude::*;

use super::{format_sum, parse_sum};
use crate::domain::services::som_to_tiyin;

proptest! {
    #[test]
    fn sums_round_trip_through_their_text(tiyin in 0_i64..100_000_000_000_000) {
        prop_assert_eq!(parse_sum(&format_sum(tiyin)), Some(tiyin));
    }

    #[test]
    fn any_text_is_a_sum_or_none(text in ".{0,30}") {
        if let Some(tiyin) = parse_sum(&text) {
            prop_assert!(tiyin >= 0);
        }
    }

    #[test]
    fn typed_prices_in_som_become_tiyin(som in 0_i64..10_000_000_000, separator in "[ ,]?") {
        let grouped = som
            .to_string()
            .as_bytes()
            .rchunks(3)
            .rev()
            .map(|c| std::str::from_utf8(c).expect("digits"))
            .collect::<Vec<_>>()
            .join(&separator);
        prop_assert_eq!(som_to_tiyin("price", &grouped).ok(), Some(som * 100));
    }

    #[test]
    fn any_typed_price_is_a_number_or_a_field_error(text in ".{0,30}") {
        let _ = som_to_tiyin("price", &text);
    }
}
