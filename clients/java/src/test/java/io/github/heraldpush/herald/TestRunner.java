package io.github.heraldpush.herald;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A tiny test runner (the client uses the JDK alone, so no JUnit): named checks run in order,
 * each failure is printed, and the last line is {@code N passed, N failed}.
 */
final class TestRunner {
    /** A test body; it fails by throwing. */
    @FunctionalInterface
    interface Check {
        void run() throws Exception;
    }

    private record Named(String name, Check check) {}

    private final List<Named> checks = new ArrayList<>();

    void add(String name, Check check) {
        checks.add(new Named(name, check));
    }

    /** Runs every check and returns the number of failures. */
    int run() {
        int passed = 0;
        int failed = 0;
        for (Named n : checks) {
            long start = System.nanoTime();
            try {
                n.check().run();
                passed++;
                System.out.printf("ok   %s (%d ms)%n", n.name(), (System.nanoTime() - start) / 1_000_000);
            } catch (Throwable t) {
                failed++;
                System.out.printf("FAIL %s: %s%n", n.name(), t);
                t.printStackTrace(System.out);
            }
        }
        System.out.printf("%d passed, %d failed%n", passed, failed);
        return failed;
    }

    static void check(boolean cond, String what) {
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static void equal(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError(what + ": got <" + got + ">, want <" + want + ">");
        }
    }

    /** Runs body, which must throw a type; returns the exception. */
    static <T extends Throwable> T expect(Class<T> type, Check body) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            throw new AssertionError("want " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError("want " + type.getSimpleName() + ", nothing was thrown");
    }
}
