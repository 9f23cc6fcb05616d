//! End-to-end tests: one binary, each test on its own fresh database.

mod agents;
mod analysts;
mod auth;
mod authorization;
mod cabinet;
mod cluster;
mod content;
mod dev;
mod effects;
mod errors;
mod health;
mod idempotency;
mod law;
mod loans;
mod my_support;
mod notifications;
mod onboarding;
mod otp;
mod payments;
mod projector;
mod sealing;
mod smsru;
mod social;
mod store;
mod support;
mod yookassa;
