<?php
// Publishes Mercure updates with Symfony's own Mercure component (Debian's
// php-symfony-mercure), as a Symfony application does, and prints each answered id on a
// line. The hub URL and the publisher JWT come from the environment (MERCURE_URL and
// MERCURE_JWT, as a Symfony application's MERCURE_URL and static token provider).

declare(strict_types=1);

require_once 'Symfony/Component/Mercure/autoload.php';

use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\StaticTokenProvider;
use Symfony\Component\Mercure\Update;

$hub = new Hub(getenv('MERCURE_URL'), new StaticTokenProvider(getenv('MERCURE_JWT')));

$updates = [
    // Public, no id, type or retry.
    new Update('https://example.com/books/1', '{"n":1}'),
    // Private, with an id and a type, and an alternate topic.
    new Update(['https://example.com/books/2', 'https://example.com/users/42'], '{"n":2}', true, 'urn:symfony:2', 'book.updated'),
    // Public, with id, type, retry and multi-line data.
    new Update('https://example.com/books/3', "line one\nline two", false, 'sym-3', 'ping', 2500),
    // Private, without an id.
    new Update('https://example.com/books/4', '{"n":4}', true),
];
foreach ($updates as $update) {
    echo $hub->publish($update), "\n";
}
