-- The agent-commission process manager's own state, written in its transaction with its
-- checkpoint: whose client each attributed customer is, and the referred loans with their
-- issue and due days (to tell an early return under 353-FZ art. 11).
CREATE TABLE agent_clients (
    customer_id uuid PRIMARY KEY,
    agent_id    uuid NOT NULL
);

CREATE TABLE agent_loans (
    loan_id   uuid PRIMARY KEY,
    agent_id  uuid NOT NULL,
    issued_on date NOT NULL,
    due_on    date NOT NULL
);
