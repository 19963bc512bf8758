package io.github.heraldpush.herald;

import static io.github.heraldpush.herald.TestRunner.check;
import static io.github.heraldpush.herald.TestRunner.equal;
import static io.github.heraldpush.herald.TestRunner.expect;

import java.math.BigDecimal;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The client's tests, against a real Herald gateway that clients/java/java_test.go starts
 * (HERALD_TEST_URL, HERALD_TEST_API_KEY; HERALD_TEST_REDIS_URL is a gateway whose Redis engine is
 * down until a POST to HERALD_TEST_CONTROL_URL/redis/start). Run them with
 * {@code go test ./clients/java/}.
 */
public final class HeraldTest {
    private final String url = env("HERALD_TEST_URL");
    private final String key = env("HERALD_TEST_API_KEY");
    private final Herald herald = Herald.builder().url(url).apiKey(key).build();

    public static void main(String[] args) {
        HeraldTest t = new HeraldTest();
        TestRunner r = new TestRunner();
        r.add("json writer accepts the documented types", HeraldTest::jsonWriter);
        r.add("json writer refuses everything else", HeraldTest::jsonWriterRefuses);
        r.add("json reader", HeraldTest::jsonReader);
        r.add("data kinds arrive as published", t::dataKinds);
        r.add("batch ids in order", t::batch);
        r.add("batch error lists published ids", t::batchError);
        r.add("error answers carry Herald's code", t::errorCodes);
        r.add("bad input is refused before sending", t::badInput);
        r.add("async variants", t::async);
        r.add("builder validation", t::builder);
        r.add("refused connection is retried then thrown", HeraldTest::refused);
        r.add("503 engine_unavailable is retried until the engine is back", t::engineDown);
        System.exit(r.run() == 0 ? 0 : 1);
    }

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalStateException(name + " is not set: run the tests with `go test ./clients/java/`");
        }
        return v;
    }

    private static String topic() {
        return "jtest:" + UUID.randomUUID();
    }

    private enum Colour { BLUE }

    static void jsonWriter() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("s", "q\"\\\n\t\u0001\u2028한");
        m.put("i", 1);
        m.put("l", 9007199254740993L);
        m.put("d", 0.25);
        m.put("whole", 2.0);
        m.put("f", 0.1f);
        m.put("tiny", 1e-7);
        m.put("big", new BigDecimal("1.10"));
        m.put("b", true);
        m.put("n", null);
        m.put("list", List.of(1, "two"));
        m.put("arr", new Object[] {Colour.BLUE, 'c'});
        m.put("ints", new int[] {1, 2});
        m.put("bools", new boolean[] {true});
        m.put("raw", RawJson.of(" {\"x\" : [1]} "));
        String want = "{\"s\":\"q\\\"\\\\\\n\\t\\u0001\\u2028한\",\"i\":1,\"l\":9007199254740993,\"d\":0.25,"
                + "\"whole\":2,\"f\":0.1,\"tiny\":1.0E-7,\"big\":1.10,\"b\":true,\"n\":null,\"list\":[1,\"two\"],"
                + "\"arr\":[\"BLUE\",\"c\"],\"ints\":[1,2],\"bools\":[true],\"raw\": {\"x\" : [1]} }";
        equal(Json.write(m), want, "Json.write");
        equal(Json.parse(Json.write(m)) instanceof Map, true, "the output parses");
    }

    static void jsonWriterRefuses() {
        Map<Object, Object> cyclic = new HashMap<>();
        cyclic.put("self", cyclic);
        Object[][] cases = {
            {"pojo", new Object()},
            {"nan", Double.NaN},
            {"infinity", Float.POSITIVE_INFINITY},
            {"non-string key", Map.of(1, "x")},
            {"cycle", cyclic},
            {"date", new java.util.Date()},
        };
        for (Object[] c : cases) {
            IllegalArgumentException e = expect(IllegalArgumentException.class, () -> Json.write(c[1]));
            check(e.getMessage().contains("$"), c[0] + ": message names the path: " + e.getMessage());
        }
        List<Object> deep = new ArrayList<>();
        List<Object> cur = deep;
        for (int i = 0; i < Json.MAX_DEPTH + 2; i++) {
            List<Object> next = new ArrayList<>();
            cur.add(next);
            cur = next;
        }
        expect(IllegalArgumentException.class, () -> Json.write(deep));
    }

    static void jsonReader() {
        Object v = Json.parse(" {\"id\":\"k-1\",\"online\":false,\"n\":[1,-2.5e3,null],\"u\":\"\\u00e9\\n\"} ");
        equal(v, Map.of("id", "k-1", "online", false, "n", Arrays.asList(new BigDecimal("1"), new BigDecimal("-2.5e3"), null), "u", "é\n"), "parse");
        String[] bad = {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "tru", "1 2", "\"a\u0001\"", "{\"a\":1,}", "-"};
        for (String b : bad) {
            expect(IllegalArgumentException.class, () -> Json.parse(b));
        }
        expect(IllegalArgumentException.class, () -> RawJson.of("{not json"));
        expect(IllegalArgumentException.class, () -> Json.parse("[".repeat(Json.MAX_DEPTH + 2)));
    }

    void dataKinds() throws Exception {
        String t = topic();
        Object[][] cases = {
            {"plain text", "plain text"},
            {"two\nlines", "two\nlines"},
            {Map.of("step", "vision"), "{\"step\":\"vision\"}"},
            {List.of(1, 2.5, true), "[1,2.5,true]"},
            {RawJson.of("{ \"raw\" : 1 }"), "{\"raw\":1}"},
            {42L, "42"},
            {"한국어", "한국어"},
        };
        List<String> ids = new ArrayList<>();
        for (Object[] c : cases) {
            ids.add(herald.publish(Event.of(t, c[0]).named("kind").sentAt(Instant.now())));
        }
        ids.add(herald.publish(Event.of(t, "done").asFinal()));
        List<SseStream.Received> got = SseStream.readUntilEnd(url, t);
        equal(got.size(), cases.length + 1, "events received");
        for (int i = 0; i < cases.length; i++) {
            equal(got.get(i).data(), cases[i][1], "data " + i);
            equal(got.get(i).event(), "kind", "event name " + i);
        }
        equal(got.get(cases.length).event(), "message", "unnamed event");
        List<String> gotIds = new ArrayList<>();
        got.forEach(e -> gotIds.add(e.id()));
        equal(gotIds, ids, "ids");
    }

    void batch() throws Exception {
        String t = topic();
        List<String> ids = herald.publishBatch(List.of(
                Event.of(t, Map.of("n", 1)).named("n"),
                Event.of(t, Map.of("n", 2)).named("n"),
                Event.of(t, "last").asFinal()));
        equal(ids.size(), 3, "ids");
        List<SseStream.Received> got = SseStream.readUntilEnd(url, t);
        equal(got.stream().map(SseStream.Received::id).toList(), ids, "ids in order");
        equal(got.stream().map(SseStream.Received::data).toList(), List.of("{\"n\":1}", "{\"n\":2}", "last"), "data");
        equal(herald.publishBatch(List.of()), List.of(), "empty batch");
    }

    void batchError() {
        String t = topic();
        HeraldApiException e = expect(HeraldApiException.class, () -> herald.publishBatch(List.of(
                Event.of(t, 1).asFinal(), Event.of(t, 2))));
        equal(e.status(), 409, "status");
        equal(e.code(), "topic_closed", "code");
        equal(e.publishedIds().size(), 1, "published ids");
    }

    void errorCodes() {
        String closed = topic();
        herald.publish(Event.of(closed, "bye").asFinal());
        Herald anonymous = Herald.builder().url(url).build();
        Herald wrongKey = Herald.builder().url(url).apiKey("not-a-key").build();
        Object[][] cases = {
            {"bad topic", (TestRunner.Check) () -> herald.publish(Event.of("no spaces", 1)), 400, "invalid_topic"},
            {"bad event", (TestRunner.Check) () -> herald.publish(Event.of(topic(), 1).named("a\nb")), 400, "invalid_event"},
            {"reserved", (TestRunner.Check) () -> herald.publish(Event.of("herald:stats", 1)), 403, "reserved_topic"},
            {"closed", (TestRunner.Check) () -> herald.publish(Event.of(closed, 1)), 409, "topic_closed"},
            {"no key", (TestRunner.Check) () -> anonymous.publish(Event.of(topic(), 1)), 401, "token_required"},
            {"wrong key", (TestRunner.Check) () -> wrongKey.publish(Event.of(topic(), 1)), 401, "token_invalid"},
            {"too large", (TestRunner.Check) () -> herald.publish(Event.of(topic(), "x".repeat(70 << 10))), 413, "too_large"},
        };
        for (Object[] c : cases) {
            HeraldApiException e = expect(HeraldApiException.class, (TestRunner.Check) c[1]);
            check(!(e instanceof HeraldUnavailableException), c[0] + ": not a 503");
            equal(e.status(), c[2], c[0] + " status");
            equal(e.code(), c[3], c[0] + " code");
            check(e.getMessage().contains((String) c[3]) && !e.serverMessage().isEmpty(), c[0] + " message: " + e.getMessage());
        }
    }

    void badInput() {
        expect(IllegalArgumentException.class, () -> herald.publish(Event.of(topic(), new Object())));
        expect(IllegalArgumentException.class, () -> herald.publish(Event.of(topic(), Double.NaN)));
        expect(IllegalArgumentException.class, () -> Event.of("", 1));
        expect(NullPointerException.class, () -> Event.of(null, 1));
        IllegalArgumentException e = expect(IllegalArgumentException.class,
                () -> herald.publishBatch(List.of(Event.of(topic(), 1), Event.of(topic(), new Object()))));
        check(e.getMessage().startsWith("events[1]"), "batch error names the event: " + e.getMessage());
        CompletableFuture<String> f = herald.publishAsync(Event.of(topic(), Map.of(1, 2)));
        CompletionException ce = expect(CompletionException.class, f::join);
        check(ce.getCause() instanceof IllegalArgumentException, "async bad input fails the future");
    }

    void async() throws Exception {
        String t = topic();
        List<CompletableFuture<String>> fs = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            fs.add(herald.publishAsync(Event.of(t, Map.of("n", i))));
        }
        CompletableFuture.allOf(fs.toArray(new CompletableFuture<?>[0])).join();
        List<String> last = herald.publishBatchAsync(List.of(Event.of(t, "end").asFinal())).get();
        List<SseStream.Received> got = SseStream.readUntilEnd(url, t);
        equal(got.size(), 6, "events");
        List<String> want = new ArrayList<>();
        fs.forEach(f -> want.add(f.join()));
        want.addAll(last);
        List<String> gotIds = new ArrayList<>(got.stream().map(SseStream.Received::id).toList());
        equal(gotIds.get(5), want.get(5), "final id");
        check(gotIds.containsAll(want), "every async id received: " + gotIds + " vs " + want);
        CompletionException ce = expect(CompletionException.class,
                () -> herald.publishAsync(Event.of("bad topic", 1)).join());
        check(ce.getCause() instanceof HeraldApiException api && api.code().equals("invalid_topic"), "async error: " + ce.getCause());
    }

    void builder() {
        expect(IllegalStateException.class, () -> Herald.builder().build());
        expect(IllegalArgumentException.class, () -> Herald.builder().url("ftp://x"));
        expect(IllegalArgumentException.class, () -> Herald.builder().url("http://"));
        expect(IllegalArgumentException.class, () -> Herald.builder().url("http://h:1/?q=1"));
        expect(IllegalArgumentException.class, () -> Herald.builder().url("not a url"));
        expect(IllegalStateException.class, () -> Herald.builder().url(url).apiKey("a").token("b").build());
        expect(IllegalArgumentException.class, () -> Herald.builder().retries(-1));
        expect(IllegalArgumentException.class, () -> Herald.builder().timeout(Duration.ZERO));
        equal(Herald.builder().url(url + "/").build().toString(), "Herald(" + url + "/v1/publish)", "trailing slash");
    }

    static void refused() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        List<Integer> attempts = new ArrayList<>();
        Herald h = Herald.builder().url("http://127.0.0.1:" + port).retries(2).backoff(Duration.ofMillis(1))
                .onRetry((attempt, delay, cause) -> attempts.add(attempt)).build();
        HeraldTransportException e = expect(HeraldTransportException.class, () -> h.publish(Event.of("t:1", 1)));
        check(e.getCause() instanceof java.net.ConnectException, "cause: " + e.getCause());
        equal(attempts, List.of(1, 2), "retries");
    }

    void engineDown() throws Exception {
        String redisUrl = env("HERALD_TEST_REDIS_URL");
        String t = topic();
        List<String> codes = new ArrayList<>();
        Herald h = Herald.builder().url(redisUrl).apiKey(key).retries(2).backoff(Duration.ofMillis(1))
                .onRetry((attempt, delay, cause) -> codes.add(((HeraldApiException) cause).code())).build();
        HeraldUnavailableException e = expect(HeraldUnavailableException.class, () -> h.publish(Event.of(t, "lost?")));
        equal(e.status(), 503, "status");
        equal(e.code(), "engine_unavailable", "code");
        equal(codes, List.of("engine_unavailable", "engine_unavailable"), "retries");

        List<Integer> restarted = new ArrayList<>();
        Herald patient = Herald.builder().url(redisUrl).apiKey(key).retries(20).backoff(Duration.ofMillis(10))
                .maxBackoff(Duration.ofMillis(200))
                .onRetry((attempt, delay, cause) -> {
                    if (restarted.isEmpty()) {
                        restarted.add(startRedis());
                    }
                }).build();
        String id = patient.publishAsync(Event.of(t, "after the restart").asFinal()).get();
        equal(restarted, List.of(200), "control answer");
        List<SseStream.Received> got = SseStream.readUntilEnd(redisUrl, t);
        equal(got, List.of(new SseStream.Received(id, "message", "after the restart")), "only the published event");
    }

    private static int startRedis() {
        try {
            HttpRequest req = HttpRequest.newBuilder(URI.create(env("HERALD_TEST_CONTROL_URL") + "/redis/start"))
                    .timeout(Duration.ofSeconds(15)).POST(HttpRequest.BodyPublishers.noBody()).build();
            return HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (Exception ex) {
            throw new IllegalStateException("start redis: " + ex, ex);
        }
    }
}
