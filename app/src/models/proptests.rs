//! Property tests of the wire types' parsing: the live socket's client frames round-trip and never panic.

use proptest::prelude::*;

use super::ClientFrame;

proptest! {
    #[test]
    fn client_frames_round_trip(ids in proptest::collection::vec(any::<i64>(), 0..50), ping in any::<bool>()) {
        let frame = if ping { ClientFrame::Ping {} } else { ClientFrame::MarkRead { ids } };
        let text = serde_json::to_string(&frame).expect("a frame serializes");
        prop_assert_eq!(serde_json::from_str::<ClientFrame>(&text).expect("it parses back"), frame);
    }

    #[test]
    fn any_text_parses_to_a_frame_or_an_error(text in ".{0,200}") {
        // Must not panic; either outcome is fine.
        let _ = serde_json::from_str::<ClientFrame>(&text);
    }
}
