package io.github.heraldpush.herald;

/**
 * The base of every error the client throws (unchecked, so that it passes through lambdas,
 * {@code CompletableFuture}s and Kotlin code as it is). Its subclasses:
 *
 * <ul>
 *   <li>{@link HeraldApiException}: an error answer of the gateway, with Herald's error code;
 *   <li>{@link HeraldUnavailableException}: 503 after the retries were used up;
 *   <li>{@link HeraldTransportException}: no answer (connection refused, timeout, reset).
 * </ul>
 */
public class HeraldException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Returns an exception with message and cause. */
    public HeraldException(String message, Throwable cause) {
        super(message, cause);
    }
}
