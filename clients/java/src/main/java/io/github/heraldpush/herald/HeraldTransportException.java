package io.github.heraldpush.herald;

/**
 * The request got no HTTP answer: the connection was refused, reset or timed out. Only a refused
 * connection is retried (nothing was sent); after a timeout or reset the event may have been
 * published, so the client does not send it again on its own.
 */
public class HeraldTransportException extends HeraldException {
    private static final long serialVersionUID = 1L;

    /** Returns the exception with message and cause. */
    public HeraldTransportException(String message, Throwable cause) {
        super(message, cause);
    }
}
