"""The server-side half of ``PostgresWorld.append``: two PL/pgSQL functions.

Migration 2 created both; migration 3 replaced ``append_one`` with the one here (the runs
view's deploy events). The text migration 2 ran is frozen in ``_pg_functions_v2``: a change
to a function is a new migration that replaces it, never an edit of a shipped one.

``append_one(now, request)`` does everything ``World.append`` promises for one request, in the
caller's transaction:

* **Dense seqs.** It upserts the run's ``run_seq`` row, adding the number of new events, and
  numbers the events from its old value. The row lock serialises appenders to one run
  (appenders to other runs do not touch it), so seqs are dense and ``expect_seq`` is checked
  against a value nobody else can change before the commit.
* **Exactly once.** Events go in with ``ON CONFLICT (run_id, dedup_key) DO NOTHING``; a row
  that did not go in is a duplicate.
* **Views.** The runs view (status only moves forward: no run event changes a terminal run,
  and only ``run_unblocked`` moves a blocked one), hooks (tokens unique among live hooks by a
  partial unique index; a conflicting insert inserts nothing and the holder is looked up
  under the index's lock) and streams; a terminal event drops the run's queue rows. Then
  acks, then enqueues (one live row per key).

Errors carry their own SQLSTATE: ``WDK01`` a duplicate (message: the key, or ``seq``), ``WDK02``
a token held by another run (message: the token, detail: the holder's run id). It returns the
run's last seq, the enqueued messages' ids and the topics to NOTIFY.

``append_batch(now, requests, synchronous_commit)`` runs several requests in one transaction
(group commit: one round trip and one WAL flush for all of them), committed at the given
``synchronous_commit`` level: the server's own for a durable batch, ``off`` for one that
replay re-derives. Each request of a batch of more
than one runs in its own subtransaction, so a duplicate fails that request alone; the batch
reports per request ``[seq, ids]`` or ``[null, null, sqlstate, message, detail]``, then
NOTIFYs the topics of the requests that went in.

A request is JSONB, since PL/pgSQL cannot read msgpack and nested arrays of records are
clumsy as parameters: ``{"r": run_id, "e": events, "s": has_special_events, "x":
expect_seq, "a": ack_ids, "m": messages}``, an event ``[type, correlation_id, data, dedup_key,
text, bytes, kind, deployment_id, forked_from]`` (the fields after ``dedup_key`` decoded by the
client: the workflow id, input, deployment and fork origin of ``run_created``; the token,
metadata and kind of ``hook_created``; the deployment of ``run_adopted`` as ``text``; absent
or null otherwise, as in requests of a wdk from before migration 3), a message ``[kind,
run_id, key, payload, not_before, lease_s, owner]``; bytes are base64.

``{s}`` is the quoted schema; there are no other braces in the SQL (``str.format``).
"""

from __future__ import annotations

__all__ = ["APPEND_BATCH", "APPEND_ONE"]

APPEND_ONE = """CREATE OR REPLACE FUNCTION {s}.append_one(p_now double precision, r jsonb,
    OUT last_seq bigint, OUT message_ids bigint[], OUT topics text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    p_run text := r->>'r';
    n integer := jsonb_array_length(r->'e');
    p_expect bigint := (r->>'x')::bigint;
    ended boolean := false;
    wake boolean := false;
    acks bigint[];
    done integer;
    dup text;
    ev record;
    holder record;
    ns text;
    m jsonb;
    mid bigint;
BEGIN
    message_ids := ARRAY[]::bigint[];
    topics := ARRAY[]::text[];
    IF n > 0 THEN
        INSERT INTO {s}.run_seq AS rs (run_id, last_seq) VALUES (p_run, n)
        ON CONFLICT (run_id) DO UPDATE SET last_seq = rs.last_seq + n
        RETURNING rs.last_seq INTO last_seq;
        IF p_expect IS NOT NULL AND last_seq - n <> p_expect THEN
            RAISE EXCEPTION USING ERRCODE = 'WDK01', MESSAGE = 'seq';
        END IF;
        INSERT INTO {s}.events (run_id, seq, type, correlation_id, data, created_at, dedup_key)
        SELECT p_run, last_seq - n + e.ord, e.v->>0, e.v->>1, decode(e.v->>2, 'base64'),
            p_now, e.v->>3
        FROM jsonb_array_elements(r->'e') WITH ORDINALITY AS e(v, ord)
        ON CONFLICT (run_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING;
        GET DIAGNOSTICS done = ROW_COUNT;
        IF done <> n THEN
            SELECT e.v->>3 INTO dup FROM jsonb_array_elements(r->'e') WITH ORDINALITY AS e(v, ord)
            WHERE NOT EXISTS (SELECT FROM {s}.events old
                WHERE old.run_id = p_run AND old.seq = last_seq - n + e.ord)
            ORDER BY e.ord LIMIT 1;
            RAISE EXCEPTION USING ERRCODE = 'WDK01', MESSAGE = coalesce(dup, '');
        END IF;
    ELSE
        SELECT rs.last_seq INTO last_seq FROM {s}.run_seq rs WHERE rs.run_id = p_run;
        last_seq := coalesce(last_seq, 0);
        IF p_expect IS NOT NULL AND last_seq <> p_expect THEN
            RAISE EXCEPTION USING ERRCODE = 'WDK01', MESSAGE = 'seq';
        END IF;
    END IF;
    IF (r->>'s')::boolean THEN
        FOR ev IN SELECT e.v->>0 AS type, coalesce(e.v->>1, '') AS cid,
                decode(e.v->>2, 'base64') AS data, e.v->>4 AS x_text,
                decode(e.v->>5, 'base64') AS x_bytes, e.v->>6 AS x_kind,
                e.v->>7 AS x_deployment, e.v->>8 AS x_forked
            FROM jsonb_array_elements(r->'e') AS e(v) LOOP
            CASE ev.type
            WHEN 'run_created' THEN
                INSERT INTO {s}.runs (run_id, workflow_id, status, created_at, input,
                    deployment_id, forked_from)
                VALUES (p_run, coalesce(ev.x_text, ''), 'pending', p_now, ev.x_bytes,
                    ev.x_deployment, ev.x_forked)
                ON CONFLICT (run_id) DO NOTHING;
            WHEN 'run_started' THEN
                -- Not 'blocked': only a retry (run_unblocked) unblocks a run. 'running' too,
                -- for a run unblocked before it ever started.
                UPDATE {s}.runs SET status = 'running', started_at = coalesce(started_at, p_now)
                WHERE run_id = p_run AND status IN ('pending', 'running');
            WHEN 'run_blocked' THEN
                UPDATE {s}.runs SET status = 'blocked', error = ev.data
                WHERE run_id = p_run AND status NOT IN ('completed', 'failed', 'cancelled');
            WHEN 'run_unblocked' THEN
                UPDATE {s}.runs SET status = 'running', error = NULL
                WHERE run_id = p_run AND status NOT IN ('completed', 'failed', 'cancelled');
            WHEN 'run_adopted' THEN
                UPDATE {s}.runs SET deployment_id = ev.x_text
                WHERE run_id = p_run AND status NOT IN ('completed', 'failed', 'cancelled');
            WHEN 'run_completed', 'run_failed', 'run_cancelled' THEN
                UPDATE {s}.runs SET
                    status = CASE ev.type WHEN 'run_completed' THEN 'completed'
                        WHEN 'run_failed' THEN 'failed' ELSE 'cancelled' END,
                    completed_at = p_now,
                    output = CASE WHEN ev.type = 'run_completed' THEN ev.data END,
                    error = CASE WHEN ev.type = 'run_failed' THEN ev.data END
                WHERE run_id = p_run AND status NOT IN ('completed', 'failed', 'cancelled');
                UPDATE {s}.hooks SET disposed_at = p_now
                WHERE run_id = p_run AND disposed_at IS NULL;
                FOR ns IN UPDATE {s}.streams SET closed = true
                        WHERE run_id = p_run AND NOT closed RETURNING namespace LOOP
                    topics := topics || ('stream:' || p_run || ':' || ns);
                END LOOP;
                ended := true;
            WHEN 'hook_created' THEN
                -- A new token for a correlation id replaces that hook's old one.
                UPDATE {s}.hooks SET disposed_at = p_now
                WHERE run_id = p_run AND correlation_id = ev.cid
                    AND token <> coalesce(ev.x_text, '') AND disposed_at IS NULL;
                LOOP
                    INSERT INTO {s}.hooks
                        (run_id, correlation_id, token, metadata, kind, created_at)
                    VALUES (p_run, ev.cid, coalesce(ev.x_text, ''), ev.x_bytes,
                        coalesce(ev.x_kind, 'hook'), p_now)
                    ON CONFLICT (token) WHERE disposed_at IS NULL DO NOTHING;
                    EXIT WHEN FOUND;
                    SELECT h.run_id, h.correlation_id INTO holder FROM {s}.hooks h
                    WHERE h.token = coalesce(ev.x_text, '') AND h.disposed_at IS NULL;
                    IF FOUND THEN
                        EXIT WHEN holder.run_id = p_run AND holder.correlation_id = ev.cid;
                        RAISE EXCEPTION USING ERRCODE = 'WDK02',
                            MESSAGE = coalesce(ev.x_text, ''), DETAIL = holder.run_id;
                    END IF;
                    -- The holder was disposed by a commit between the two statements: again.
                END LOOP;
            WHEN 'hook_disposed' THEN
                UPDATE {s}.hooks SET disposed_at = p_now
                WHERE run_id = p_run AND correlation_id = ev.cid AND disposed_at IS NULL;
            ELSE
                NULL;
            END CASE;
        END LOOP;
    END IF;
    IF ended THEN
        DELETE FROM {s}.queue WHERE run_id = p_run;
        topics := topics || ('done:' || p_run);
    END IF;
    IF jsonb_array_length(r->'a') > 0 THEN
        acks := ARRAY(SELECT jsonb_array_elements_text(r->'a')::bigint);
        DELETE FROM {s}.queue WHERE id = ANY(acks) AND NOT dirty;
        GET DIAGNOSTICS done = ROW_COUNT;
        IF done < cardinality(acks) THEN
            -- A message asked for again while it was leased: show it once more.
            UPDATE {s}.queue SET dirty = false, lease_until = NULL, owner = NULL,
                deliveries = 0, not_before = coalesce(dirty_not_before, not_before),
                dirty_not_before = NULL
            WHERE id = ANY(acks) AND dirty;
            wake := wake OR FOUND;
        END IF;
    END IF;
    FOR m IN SELECT jsonb_array_elements(r->'m') LOOP
        INSERT INTO {s}.queue AS q
            (kind, run_id, key, payload, not_before, lease_until, owner, deliveries, created_at)
        VALUES (m->>0, m->>1, m->>2, decode(m->>3, 'base64'), (m->>4)::double precision,
            CASE WHEN m->>6 IS NULL THEN NULL ELSE p_now + (m->>5)::double precision END,
            m->>6, CASE WHEN m->>6 IS NULL THEN 0 ELSE 1 END, p_now)
        ON CONFLICT (key) DO UPDATE SET
            not_before = CASE WHEN q.owner IS NULL
                THEN least(q.not_before, excluded.not_before) ELSE q.not_before END,
            owner = CASE WHEN q.owner IS NULL THEN excluded.owner ELSE q.owner END,
            lease_until = CASE WHEN q.owner IS NULL
                THEN excluded.lease_until ELSE q.lease_until END,
            deliveries = q.deliveries + CASE WHEN q.owner IS NULL
                THEN excluded.deliveries ELSE 0 END,
            dirty = q.dirty OR q.owner IS NOT NULL,
            dirty_not_before = CASE WHEN q.owner IS NULL THEN q.dirty_not_before
                ELSE least(q.dirty_not_before, excluded.not_before) END
        RETURNING q.id INTO mid;
        message_ids := message_ids || mid;
        -- A message leased to its creator (inline execution) wakes nobody.
        wake := wake OR m->>6 IS NULL;
    END LOOP;
    IF wake THEN
        topics := topics || 'queue'::text;
    END IF;
END
$fn$"""

APPEND_BATCH = """CREATE FUNCTION {s}.append_batch(
    p_now double precision, p_requests jsonb, p_synchronous_commit text,
    OUT results jsonb, OUT topics text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    req jsonb;
    one record;
    alone boolean := jsonb_array_length(p_requests) = 1;
    failed boolean;
    code text;
    msg text;
    detail text;
BEGIN
    results := '[]'::jsonb;
    topics := ARRAY[]::text[];
    PERFORM set_config('synchronous_commit', p_synchronous_commit, true);
    FOR req IN SELECT jsonb_array_elements(p_requests) LOOP
        failed := false;
        IF alone THEN
            -- No subtransaction: an error fails the statement, and the client raises it.
            SELECT * INTO one FROM {s}.append_one(p_now, req);
        ELSE
            BEGIN
                SELECT * INTO one FROM {s}.append_one(p_now, req);
            EXCEPTION WHEN SQLSTATE 'WDK01' OR SQLSTATE 'WDK02' THEN
                GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                    detail = PG_EXCEPTION_DETAIL;
                failed := true;
            END;
        END IF;
        IF failed THEN
            results := results
                || jsonb_build_array(jsonb_build_array(NULL, NULL, code, msg, detail));
        ELSE
            results := results
                || jsonb_build_array(jsonb_build_array(one.last_seq, one.message_ids));
            topics := topics || one.topics;
        END IF;
    END LOOP;
    PERFORM pg_notify({s}.channel(t), t) FROM (SELECT DISTINCT unnest(topics) AS t) AS d;
END
$fn$"""
