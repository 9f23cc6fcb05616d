-- Every start adopts the password hashes that 1.0 events held in clear (credentials.rs,
-- `adopt_legacy_hashes`). Without an index that read scanned the whole log at every start of
-- every command (0.3 s at 1.5 M events, growing with the log). Today's code never writes these
-- events at 1.0, so this partial index holds only the legacy ones: the read costs what they are.
CREATE INDEX events_legacy_passwords ON events (global_position)
    WHERE aggregate_type = 'Account' AND event_version = '1.0'
      AND event_type IN ('StaffAccountCreated', 'CustomerAccountOpened', 'PasswordIssued',
                         'PasswordChanged');
