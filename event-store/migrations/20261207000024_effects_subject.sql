-- A person's own copy of their data (152-FZ art. 14) holds the messages sent to them: the SMS and
-- e-mails of the outbox are found by whose key seals their recipient.
CREATE INDEX effects_recipient ON effects ((coalesce(
    request #>> '{Sms,phone,subject_id}',
    request #>> '{CustomerEmail,email,subject_id}',
    request #>> '{TicketAnswer,contact,subject_id}')))
    WHERE kind IN ('sms', 'email');
