package io.github.heraldpush.herald;

import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A publisher for a Herald gateway: it posts events to {@code POST /v1/publish} and returns the
 * ids Herald assigned to them.
 *
 * <pre>{@code
 * Herald herald = Herald.builder().url("http://127.0.0.1:8080").apiKey(key).build();
 * String id = herald.publish(Event.of("raffle:7", Map.of("odds", 0.25)).named("odds"));
 * }</pre>
 *
 * <p>A publish answered 503 (the engine is down or the gateway is shutting down: nothing was
 * published) or whose connection was refused is retried with exponential back-off and jitter
 * ({@link Builder#retries}, {@link Builder#backoff}, {@link Builder#maxBackoff}; a Retry-After
 * answer is honoured up to the maximum). Other errors are thrown at once: {@link
 * HeraldApiException} with Herald's error {@code code()}, {@link HeraldTransportException} when
 * no answer came. The async variants complete exceptionally with the same exceptions.
 *
 * <p>A Herald is immutable and safe for concurrent use; share one per gateway.
 */
public final class Herald {
    /** Default number of retries of a publish answered 503 or refused. */
    public static final int DEFAULT_RETRIES = 4;
    /** Default first back-off delay; it doubles on every retry. */
    public static final Duration DEFAULT_BACKOFF = Duration.ofMillis(100);
    /** Default longest back-off delay. */
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(2);
    /** Default time a request may take. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** The header carrying the send time (Unix nanoseconds) for Herald's latency metric. */
    public static final String SENT_TIME_HEADER = "X-Herald-Sent-Time";

    private static final System.Logger LOG = System.getLogger(Herald.class.getName());
    private static final int MAX_ERROR_BODY = 64 << 10;

    /** Called before each retry; see {@link Builder#onRetry}. */
    @FunctionalInterface
    public interface RetryListener {
        /** attempt counts from 1; cause is the 503 or the refused connection. */
        void onRetry(int attempt, Duration delay, HeraldException cause);
    }

    private final URI endpoint;
    private final String authorization;
    private final HttpClient http;
    private final Duration timeout;
    private final int retries;
    private final Duration backoff;
    private final Duration maxBackoff;
    private final RetryListener onRetry;

    private Herald(Builder b) {
        this.endpoint = b.endpoint;
        this.authorization = b.credential == null ? null : "Bearer " + b.credential;
        this.http = b.http != null ? b.http : HttpClient.newBuilder().connectTimeout(b.timeout).build();
        this.timeout = b.timeout;
        this.retries = b.retries;
        this.backoff = b.backoff;
        this.maxBackoff = b.maxBackoff;
        this.onRetry = b.onRetry;
    }

    /** Returns a builder; {@link Builder#url} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** Publishes one event and returns its id. */
    public String publish(Event event) {
        return join(publishAsync(event));
    }

    /** Publishes events in order in one request and returns their ids in the same order. */
    public List<String> publishBatch(List<Event> events) {
        return join(publishBatchAsync(events));
    }

    /** {@link #publish} without blocking: the future completes with the id. */
    public CompletableFuture<String> publishAsync(Event event) {
        Objects.requireNonNull(event, "event");
        String body;
        try {
            body = event.toJson();
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
        return post(body).thenApply(answer -> {
            if (answer.get("id") instanceof String id && !id.isEmpty()) {
                return id;
            }
            throw new HeraldException("herald: publish answer has no id: " + answer, null);
        });
    }

    /**
     * {@link #publishBatch} without blocking. Herald stops at the first event it cannot publish
     * and answers an error; {@link HeraldApiException#publishedIds()} then lists the ids of the
     * events published before it.
     */
    public CompletableFuture<List<String>> publishBatchAsync(List<Event> events) {
        Objects.requireNonNull(events, "events");
        if (events.isEmpty()) {
            return CompletableFuture.completedFuture(List.of());
        }
        StringBuilder sb = new StringBuilder("{\"events\":[");
        for (int i = 0; i < events.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            try {
                sb.append(Objects.requireNonNull(events.get(i), "event").toJson());
            } catch (IllegalArgumentException | NullPointerException e) {
                return CompletableFuture.failedFuture(
                        new IllegalArgumentException("events[" + i + "]: " + e.getMessage(), e));
            }
        }
        String body = sb.append("]}").toString();
        int n = events.size();
        return post(body).thenApply(answer -> {
            if (answer.get("ids") instanceof List<?> ids && ids.size() == n) {
                List<String> out = new ArrayList<>(n);
                for (Object o : ids) {
                    out.add(String.valueOf(o));
                }
                return List.copyOf(out);
            }
            throw new HeraldException("herald: publish answer has no " + n + " ids: " + answer, null);
        });
    }

    private CompletableFuture<Map<String, Object>> post(String body) {
        return attempt(body.getBytes(StandardCharsets.UTF_8), 0);
    }

    private CompletableFuture<Map<String, Object>> attempt(byte[] body, int done) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(endpoint)
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header(SENT_TIME_HEADER, Long.toString(nowNanos()))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (authorization != null) {
            rb.header("Authorization", authorization);
        }
        return http.sendAsync(rb.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8))
                .handle((resp, err) -> {
                    if (err != null) {
                        return Outcome.failed(transportError(unwrap(err)));
                    }
                    if (resp.statusCode() >= 400) {
                        return Outcome.failed(apiError(resp));
                    }
                    try {
                        if (Json.parse(resp.body()) instanceof Map<?, ?> m) {
                            @SuppressWarnings("unchecked")
                            Map<String, Object> answer = (Map<String, Object>) m;
                            return Outcome.ok(answer);
                        }
                    } catch (IllegalArgumentException e) {
                        // reported below
                    }
                    return Outcome.failed(new HeraldException("herald: publish answer is not a JSON object: "
                            + abbreviate(resp.body()), null));
                })
                .thenCompose(o -> {
                    if (o.error == null) {
                        return CompletableFuture.completedFuture(o.answer);
                    }
                    if (!retryable(o.error) || done >= retries) {
                        return CompletableFuture.failedFuture(o.error);
                    }
                    int next = done + 1;
                    Duration delay = delay(next, o.error);
                    LOG.log(System.Logger.Level.WARNING, "herald: publish attempt {0} failed ({1}); retrying in {2} ms",
                            next, o.error.getMessage(), delay.toMillis());
                    if (onRetry != null) {
                        onRetry.onRetry(next, delay, o.error);
                    }
                    return CompletableFuture.supplyAsync(() -> null,
                                    CompletableFuture.delayedExecutor(delay.toNanos(), TimeUnit.NANOSECONDS))
                            .thenCompose(x -> attempt(body, next));
                });
    }

    /** One attempt's result: an answer or an error. */
    private record Outcome(Map<String, Object> answer, HeraldException error) {
        static Outcome ok(Map<String, Object> answer) {
            return new Outcome(answer, null);
        }

        static Outcome failed(HeraldException e) {
            return new Outcome(null, e);
        }
    }

    private static boolean retryable(HeraldException e) {
        return e instanceof HeraldUnavailableException
                || (e instanceof HeraldTransportException && e.getCause() instanceof ConnectException);
    }

    private Duration delay(int attempt, HeraldException cause) {
        long base = backoff.toNanos() << Math.min(attempt - 1, 30);
        long d = Math.min(maxBackoff.toNanos(), base < 0 ? Long.MAX_VALUE : base);
        d = (long) (d * (0.5 + ThreadLocalRandom.current().nextDouble() / 2));
        if (cause instanceof RetryAfter ra && ra.retryAfterNanos() > 0) {
            d = Math.max(d, Math.min(ra.retryAfterNanos(), maxBackoff.toNanos()));
        }
        return Duration.ofNanos(d);
    }

    /** A 503 answer that carried a Retry-After header. */
    private interface RetryAfter {
        long retryAfterNanos();
    }

    private static final class UnavailableAfter extends HeraldUnavailableException implements RetryAfter {
        private static final long serialVersionUID = 1L;
        private final long nanos;

        UnavailableAfter(String code, String msg, List<String> ids, long nanos) {
            super(code, msg, ids);
            this.nanos = nanos;
        }

        @Override
        public long retryAfterNanos() {
            return nanos;
        }
    }

    private static HeraldApiException apiError(HttpResponse<String> resp) {
        String body = resp.body() == null ? "" : resp.body();
        if (body.length() > MAX_ERROR_BODY) {
            body = body.substring(0, MAX_ERROR_BODY);
        }
        String code = "";
        String msg = "";
        List<String> ids = null;
        try {
            if (Json.parse(body) instanceof Map<?, ?> m) {
                code = m.get("code") instanceof String s ? s : "";
                msg = m.get("error") instanceof String s ? s : "";
                if (m.get("ids") instanceof List<?> l) {
                    ids = new ArrayList<>();
                    for (Object o : l) {
                        ids.add(String.valueOf(o));
                    }
                }
            }
        } catch (IllegalArgumentException e) {
            // not Herald's error JSON: keep the start of the body
        }
        if (code.isEmpty() && msg.isEmpty()) {
            msg = abbreviate(body.strip());
        }
        if (resp.statusCode() == 503) {
            long after = resp.headers().firstValue("Retry-After").map(Herald::seconds).orElse(0L);
            return new UnavailableAfter(code, msg, ids, after);
        }
        return new HeraldApiException(resp.statusCode(), code, msg, ids);
    }

    private static long seconds(String v) {
        try {
            return TimeUnit.SECONDS.toNanos(Long.parseLong(v.trim()));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static HeraldException transportError(Throwable t) {
        if (t instanceof HeraldException he) {
            return he;
        }
        String what = t instanceof HttpTimeoutException ? "timed out" : t.toString();
        return new HeraldTransportException("herald: publish: " + what, t);
    }

    private static Throwable unwrap(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable c = unwrap(e);
            if (c instanceof RuntimeException re) {
                throw re;
            }
            throw new HeraldException("herald: " + c, c);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "…" : s;
    }

    private static long nowNanos() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** Configures a {@link Herald}. */
    public static final class Builder {
        private URI endpoint;
        private String credential;
        private boolean haveToken;
        private boolean haveKey;
        private HttpClient http;
        private Duration timeout = DEFAULT_TIMEOUT;
        private int retries = DEFAULT_RETRIES;
        private Duration backoff = DEFAULT_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private RetryListener onRetry;

        private Builder() {}

        /** The gateway's base URL, e.g. {@code http://127.0.0.1:8080} (required). */
        public Builder url(String url) {
            Objects.requireNonNull(url, "url");
            try {
                URI given = new URI(url);
                boolean http = "http".equals(given.getScheme()) || "https".equals(given.getScheme());
                if (!http || given.getHost() == null || given.getQuery() != null || given.getFragment() != null) {
                    throw new IllegalArgumentException("url must be http(s)://host[:port][/prefix], got " + url);
                }
                String base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
                this.endpoint = new URI(base + "/v1/publish");
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("bad url " + url + ": " + e.getMessage(), e);
            }
            return this;
        }

        /** A publisher API key, sent as {@code Authorization: Bearer}. */
        public Builder apiKey(String key) {
            this.credential = key;
            this.haveKey = key != null;
            return this;
        }

        /** A publisher JWT, sent as {@code Authorization: Bearer} (instead of an API key). */
        public Builder token(String jwt) {
            this.credential = jwt;
            this.haveToken = jwt != null;
            return this;
        }

        /** The time one request may take (default {@link Herald#DEFAULT_TIMEOUT}). */
        public Builder timeout(Duration d) {
            this.timeout = positive(d, "timeout");
            return this;
        }

        /** Retries of a publish answered 503 or refused (default {@link Herald#DEFAULT_RETRIES}). */
        public Builder retries(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("retries must not be negative");
            }
            this.retries = n;
            return this;
        }

        /** The first back-off delay (default {@link Herald#DEFAULT_BACKOFF}), doubled per retry. */
        public Builder backoff(Duration d) {
            this.backoff = positive(d, "backoff");
            return this;
        }

        /** The longest back-off delay (default {@link Herald#DEFAULT_MAX_BACKOFF}). */
        public Builder maxBackoff(Duration d) {
            this.maxBackoff = positive(d, "maxBackoff");
            return this;
        }

        /** The HttpClient to send with (default: a new one with the timeout as connect timeout). */
        public Builder httpClient(HttpClient client) {
            this.http = client;
            return this;
        }

        /** Called before each retry (retries are also logged at WARNING). */
        public Builder onRetry(RetryListener listener) {
            this.onRetry = listener;
            return this;
        }

        /** Returns the Herald; throws IllegalStateException without a url or with two credentials. */
        public Herald build() {
            if (endpoint == null) {
                throw new IllegalStateException("Herald.builder(): url is required");
            }
            if (haveKey && haveToken) {
                throw new IllegalStateException("Herald.builder(): give apiKey or token, not both");
            }
            return new Herald(this);
        }

        private static Duration positive(Duration d, String name) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + " must be positive");
            }
            return d;
        }
    }

    @Override
    public String toString() {
        return "Herald(" + endpoint + ")";
    }
}
