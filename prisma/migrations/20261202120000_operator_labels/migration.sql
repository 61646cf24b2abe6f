-- Labels an operator set stick: a Hello no longer merges the agent's labels
-- over them until the operator hands them back. The agent's own labels are
-- kept apart so that handing back can restore them at once.

-- AlterTable
ALTER TABLE "hosts" ADD COLUMN     "agent_labels" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "labels_set_at" TIMESTAMPTZ(3);

-- Until now every label came in through enrolment or a Hello, or was
-- replaced by an operator; which, is not recorded. Hosts start from what
-- they have, as their agents' labels, and their agents' next Hello adds to it.
UPDATE "hosts" SET "agent_labels" = "labels";
