// Package outbox delivers a PostgreSQL transactional outbox: applications insert events into
// a table (herald_outbox by default) inside the same transaction as their own data, and a
// Relay stores every committed row into its topic's history through the engine's ordinary
// Publish path — exactly once, in order, on any engine (memory, Redis, NATS).
//
// # A round
//
// The serving node reads up to Batch rows in id order (rows of rolled-back transactions never
// become visible, so they never arrive), maps each to a herald.Message (topic, event, data,
// final; the dedup key is the row's dedup_key or "<table>:<id>"), publishes them in one
// Engine.Publish call and, once the engine has confirmed the store, deletes the rows (or,
// with Keep, sets delivered_at) in one transaction. A node that dies after the store and
// before the delete leaves the rows in the table; the next round (on whichever node serves
// then) publishes them again, and the engine's dedup key answers the stored event instead of
// appending a second one. The dedup memory is bounded per engine (see docs/outbox.md), which
// is what bounds the guarantee.
//
// Rows that can never be delivered — an invalid topic or one in Herald's reserved namespace,
// an invalid event name or dedup key, data over the size limit, a topic already closed by a
// final event — are moved to <table>_dead with the error (in the same transaction as the
// delete), counted and logged; the rows after them keep flowing. Any other failure (the
// engine unavailable, PostgreSQL unreachable) ends the round and is retried.
//
// # One node at a time
//
// Every node runs a Relay; the one holding the PostgreSQL session advisory lock of the table
// (pg_try_advisory_lock on its own connection) serves, the others retry the lock every
// LockRetry. The lock lives as long as the connection: a node that exits or crashes closes it
// and another node takes over within LockRetry; a node whose host vanishes is cut off by the
// server's TCP keepalives and user timeout, which the Relay sets on its session.
//
// # Immediacy
//
// The serving connection LISTENs on the channel named like the table. The optional trigger
// that `herald outbox init --notify` creates NOTIFYs it after each insert statement, so a
// commit wakes the relay at once; without the trigger (or when a notification is lost), the
// relay still reads the table every Poll.
package outbox
