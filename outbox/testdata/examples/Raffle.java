import java.sql.*;

public final class Raffle {
    static void enter(Connection c, long raffleId, long userId) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try (PreparedStatement entry = c.prepareStatement(
                 "INSERT INTO entries (raffle_id, user_id) VALUES (?, ?)");
             PreparedStatement count = c.prepareStatement(
                 "SELECT count(*) FROM entries WHERE raffle_id = ?");
             PreparedStatement event = c.prepareStatement(
                 "INSERT INTO herald_outbox (topic, event, data) VALUES (?, ?, ?::jsonb)")) {
            entry.setLong(1, raffleId);
            entry.setLong(2, userId);
            entry.executeUpdate();
            count.setLong(1, raffleId);
            long entries;
            try (ResultSet rs = count.executeQuery()) { rs.next(); entries = rs.getLong(1); }
            event.setString(1, "raffle:" + raffleId);
            event.setString(2, "odds");
            event.setString(3, "{\"entries\":" + entries + ",\"odds\":" + (1.0 / entries) + "}");
            event.executeUpdate();
            c.commit();
        } catch (SQLException e) {
            c.rollback();                 // neither the entry nor the event exists
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    /** The Java example of docs/outbox.md, run by outbox/examples_test.go: java -cp postgresql.jar Raffle.java JDBC_URL RAFFLE_ID USER_ID */
    public static void main(String[] args) throws SQLException {
        try (Connection c = DriverManager.getConnection(args[0])) {
            enter(c, Long.parseLong(args[1]), Long.parseLong(args[2]));
        }
    }
}
