package io.github.heraldpush.herald;

import java.util.List;

/**
 * An error answer of the gateway: HTTP status 400 or more with the body {@code {"error": "...",
 * "code": "..."}}. {@link #code()} is Herald's machine-readable code: {@code invalid_topic},
 * {@code invalid_event}, {@code invalid_json}, {@code too_large}, {@code reserved_topic}, {@code
 * topic_closed}, {@code token_required}, {@code token_invalid}, {@code forbidden}, {@code
 * rate_limited}, {@code engine_unavailable}, {@code shutting_down}…
 */
public class HeraldApiException extends HeraldException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;
    private final String serverMessage;
    private final List<String> publishedIds;

    /** Returns the exception of an error answer. */
    public HeraldApiException(int status, String code, String serverMessage, List<String> publishedIds) {
        super(text(status, code, serverMessage), null);
        this.status = status;
        this.code = code == null ? "" : code;
        this.serverMessage = serverMessage == null ? "" : serverMessage;
        this.publishedIds = publishedIds == null ? List.of() : List.copyOf(publishedIds);
    }

    private static String text(int status, String code, String msg) {
        StringBuilder sb = new StringBuilder("herald: ").append(status);
        if (code != null && !code.isEmpty()) {
            sb.append(" (").append(code).append(')');
        }
        if (msg != null && !msg.isEmpty()) {
            sb.append(": ").append(msg);
        }
        return sb.toString();
    }

    /** The HTTP status, e.g. 409. */
    public int status() {
        return status;
    }

    /** Herald's error code, e.g. "topic_closed"; "" when the body was not Herald's error JSON. */
    public String code() {
        return code;
    }

    /** The gateway's human-readable message (or the start of a non-JSON body). */
    public String serverMessage() {
        return serverMessage;
    }

    /** For a batch: the ids of the events published before the failing one. */
    public List<String> publishedIds() {
        return publishedIds;
    }
}
