package io.github.heraldpush.herald;

import java.time.Instant;
import java.util.Objects;

/**
 * An event to publish: {@code Event.of("raffle:7", Map.of("odds", 0.25)).named("odds")}.
 *
 * <p>Data: a {@link String} is sent as text (subscribers receive exactly its characters); {@code
 * null} as empty data; {@link RawJson} as the JSON it holds; anything else is serialised by
 * {@link Json#write} (maps, lists, numbers, booleans… see there for the exact list) and
 * subscribers receive the compact JSON.
 *
 * @param topic the topic, e.g. {@code "scan:abc"}
 * @param event the SSE event name, or {@code null} for a plain "message"
 * @param data the data (see above)
 * @param isFinal whether the event closes its topic: subscribers receive it and their stream
 *     ends; later publishes to the topic fail with {@code topic_closed}
 * @param sentTime the send time for Herald's publish→delivery latency metric, or {@code null}
 *     for the time of the request
 */
public record Event(String topic, String event, Object data, boolean isFinal, Instant sentTime) {
    /** Checks that the topic is set. */
    public Event {
        Objects.requireNonNull(topic, "topic");
        if (topic.isEmpty()) {
            throw new IllegalArgumentException("topic is empty");
        }
    }

    /** Returns an unnamed, non-final event. */
    public static Event of(String topic, Object data) {
        return new Event(topic, null, data, false, null);
    }

    /** Returns this event with the SSE event name {@code name}. */
    public Event named(String name) {
        return new Event(topic, name, data, isFinal, sentTime);
    }

    /** Returns this event marked final: it closes its topic. */
    public Event asFinal() {
        return new Event(topic, event, data, true, sentTime);
    }

    /** Returns this event with the given send time. */
    public Event sentAt(Instant when) {
        return new Event(topic, event, data, isFinal, when);
    }

    /** Returns the event as the JSON object /v1/publish reads. */
    String toJson() {
        StringBuilder sb = new StringBuilder("{\"topic\":").append(Json.write(topic));
        if (event != null && !event.isEmpty()) {
            sb.append(",\"event\":").append(Json.write(event));
        }
        try {
            sb.append(",\"data\":").append(Json.write(data));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("event for topic " + topic + ": " + e.getMessage(), e);
        }
        if (isFinal) {
            sb.append(",\"final\":true");
        }
        if (sentTime != null) {
            long nanos = sentTime.getEpochSecond() * 1_000_000_000L + sentTime.getNano();
            sb.append(",\"sent_time\":").append(nanos);
        }
        return sb.append('}').toString();
    }
}
