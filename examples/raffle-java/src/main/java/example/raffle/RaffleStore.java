package example.raffle;

import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/** The raffles' entries, in memory (the Spring app's ParticipationRepository). */
final class RaffleStore {
    /** The state after an entry: how many members take part and one member's chance. */
    record Entry(int entries, double odds) {}

    private final Map<Long, Set<Long>> entries = new HashMap<>();
    private final Set<Long> drawn = new LinkedHashSet<>();

    /** Records member's entry (once) and returns the new odds, or null when the raffle is drawn. */
    synchronized Entry participate(long raffle, long member) {
        if (drawn.contains(raffle)) {
            return null;
        }
        Set<Long> members = entries.computeIfAbsent(raffle, k -> new LinkedHashSet<>());
        members.add(member);
        int n = members.size();
        return new Entry(n, Math.round(10000.0 / n) / 10000.0);
    }

    /** Draws a winner and closes the raffle; null when it has no entries or was drawn. */
    synchronized Long draw(long raffle) {
        Set<Long> members = entries.get(raffle);
        if (members == null || members.isEmpty() || !drawn.add(raffle)) {
            return null;
        }
        int pick = ThreadLocalRandom.current().nextInt(members.size());
        return members.stream().skip(pick).findFirst().orElseThrow();
    }
}
