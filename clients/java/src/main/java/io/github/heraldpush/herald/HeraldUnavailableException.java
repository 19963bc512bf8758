package io.github.heraldpush.herald;

import java.util.List;

/**
 * 503 Service Unavailable: the gateway could not publish (its engine is down, or it is shutting
 * down), so nothing was published. The client retries these; this is thrown once the retries
 * are used up.
 */
public class HeraldUnavailableException extends HeraldApiException {
    private static final long serialVersionUID = 1L;

    /** Returns the exception of a 503 answer. */
    public HeraldUnavailableException(String code, String serverMessage, List<String> publishedIds) {
        super(503, code, serverMessage, publishedIds);
    }
}
