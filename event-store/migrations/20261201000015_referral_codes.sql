-- Agents' referral codes: one agent per code, reserved before the agent is registered (the
-- write side's lookup from a code on an application to the agent who owns it).
CREATE TABLE referral_codes (
    code       text PRIMARY KEY,
    agent_id   uuid        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
