//! Field rules shared by the server and the browser's forms. Each returns the message to show, if any.

/// Usernames: 3 to 150 characters of letters, digits and `@.+-_`.
pub fn username(value: &str) -> Option<String> {
    let len = value.chars().count();
    if !(3..=150).contains(&len) {
        return Some("Must be 3 to 150 characters long.".to_owned());
    }
    if !value
        .chars()
        .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        return Some("May contain only letters, digits and @ . + - _".to_owned());
    }
    None
}

/// Passwords: at least 8 characters, at most 256, not the username.
pub fn password(value: &str, username: &str) -> Option<String> {
    let len = value.chars().count();
    if len < 8 {
        return Some("Must be at least 8 characters long.".to_owned());
    }
    if len > 256 {
        return Some("Must be at most 256 characters long.".to_owned());
    }
    if value.eq_ignore_ascii_case(username) {
        return Some("Must not be the username.".to_owned());
    }
    None
}

/// E-mail addresses: something like `name@host.tld`.
pub fn email(value: &str) -> Option<String> {
    let valid = value.len() <= 254
        && !value.chars().any(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|part| !part.is_empty())
        });
    (!valid).then(|| "Enter a valid e-mail address.".to_owned())
}

/// Phone numbers, E.164-like: an optional `+`, then 7 to 15 digits not starting with 0.
pub fn phone(value: &str) -> Option<String> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let valid = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    (!valid).then(|| "Enter a phone number like +998901234567.".to_owned())
}

/// A required short text of at most `max` characters (names).
pub fn required_text(value: &str, max: usize) -> Option<String> {
    if value.trim().is_empty() {
        return Some("This field may not be blank.".to_owned());
    }
    max_text(value, max)
}

/// An optional text of at most `max` characters.
pub fn max_text(value: &str, max: usize) -> Option<String> {
    (value.chars().count() > max)
        .then(|| format!("Ensure this field has no more than {max} characters."))
}

/// Upper bound of any price or amount: one trillion so'm in tiyin.
pub const MAX_PRICE: i64 = 100_000_000_000_000;

/// Prices: more than 0 and at most [`MAX_PRICE`] tiyin.
pub fn price(value: i64) -> Option<String> {
    (!(1..=MAX_PRICE).contains(&value)).then(|| format!("Must be between 1 and {MAX_PRICE} tiyin."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_a_plausible_shape() {
        for ok in ["a@b.uz", "first.last+tag@example.co.uk"] {
            assert_eq!(email(ok), None, "{ok} should pass");
        }
        for bad in ["", "a", "a@b", "@b.uz", "a@@b.uz", "a b@c.uz", "a@b..uz"] {
            assert!(email(bad).is_some(), "{bad} should fail");
        }
    }

    #[test]
    fn phones_are_e164_like() {
        for ok in ["+998901234567", "998901234567", "1234567"] {
            assert_eq!(phone(ok), None, "{ok} should pass");
        }
        for bad in [
            "",
            "+",
            "+0998901234567",
            "12345",
            "+99890 123",
            "+1234567890123456",
        ] {
            assert!(phone(bad).is_some(), "{bad} should fail");
        }
    }

    #[test]
    fn passwords_need_eight_characters_and_differ_from_the_username() {
        assert!(password("short", "bob").is_some());
        assert!(password("bobbybobby", "BobbyBobby").is_some());
        assert_eq!(password("correct horse", "bob"), None);
    }
}
