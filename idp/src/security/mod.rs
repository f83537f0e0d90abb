//! Security mechanisms, one file each: password hashing, brute-force throttling, CSRF,
//! cookies, encryption at rest, random tokens, facts about the requester.

pub mod common_passwords;
pub mod cookies;
pub mod csrf;
pub mod device;
pub mod form_action;
pub mod invitation;
pub mod links;
pub mod password;
pub mod password_rules;
pub mod request;
pub mod secretbox;
pub mod strangers;
pub mod throttle;
pub mod tokens;
