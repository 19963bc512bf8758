BEGIN;
INSERT INTO entries (raffle_id, user_id) VALUES (7, 42);
INSERT INTO herald_outbox (topic, event, data)
SELECT 'raffle:7', 'odds', jsonb_build_object('entries', count(*), 'odds', round(1.0 / count(*), 4))
FROM entries WHERE raffle_id = 7;
COMMIT;        -- ROLLBACK instead, and no subscriber ever hears of it
