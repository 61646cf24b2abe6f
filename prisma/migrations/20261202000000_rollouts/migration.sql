-- Staged rollouts (issue 5): rollouts, their hosts and verdicts, and the
-- rollout that holds a host.

-- AlterTable
ALTER TABLE "hosts" ADD COLUMN     "active_rollout_id" UUID;

-- CreateTable
CREATE TABLE "rollouts" (
    "id" UUID NOT NULL,
    "group_id" UUID NOT NULL,
    "version_id" UUID NOT NULL,
    "state" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "steps" JSONB NOT NULL,
    "wave_counts" INTEGER[],
    "current_step" INTEGER NOT NULL DEFAULT 0,
    "bake_ms" INTEGER NOT NULL,
    "ack_timeout_ms" INTEGER NOT NULL,
    "thresholds" JSONB NOT NULL,
    "on_failure" TEXT NOT NULL,
    "approval_above_percent" INTEGER,
    "spread_by" TEXT[],
    "phase_started_at" TIMESTAMPTZ(3),
    "phase_deadline" TIMESTAMPTZ(3),
    "revision" INTEGER NOT NULL DEFAULT 0,
    "paused_reason" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollout_hosts" (
    "rollout_id" UUID NOT NULL,
    "host_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "step" INTEGER NOT NULL,
    "previous_version_id" UUID,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "assigned_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollout_hosts_pkey" PRIMARY KEY ("rollout_id","host_id")
);

-- CreateTable
CREATE TABLE "rollout_verdicts" (
    "id" BIGSERIAL NOT NULL,
    "rollout_id" UUID NOT NULL,
    "step" INTEGER NOT NULL,
    "verdict" TEXT NOT NULL,
    "gates" JSONB NOT NULL DEFAULT '[]',
    "by" TEXT,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rollout_verdicts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "hosts_active_rollout_id_idx" ON "hosts"("active_rollout_id");

-- CreateIndex
CREATE INDEX "rollouts_state_idx" ON "rollouts"("state");

-- CreateIndex
CREATE INDEX "rollouts_group_id_idx" ON "rollouts"("group_id");

-- CreateIndex
CREATE INDEX "rollout_hosts_host_id_idx" ON "rollout_hosts"("host_id");

-- CreateIndex
CREATE INDEX "rollout_verdicts_rollout_id_at_idx" ON "rollout_verdicts"("rollout_id", "at");

-- AddForeignKey
ALTER TABLE "hosts" ADD CONSTRAINT "hosts_active_rollout_id_fkey" FOREIGN KEY ("active_rollout_id") REFERENCES "rollouts"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "host_groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_version_id_fkey" FOREIGN KEY ("version_id") REFERENCES "policy_versions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_hosts" ADD CONSTRAINT "rollout_hosts_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_hosts" ADD CONSTRAINT "rollout_hosts_host_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_verdicts" ADD CONSTRAINT "rollout_verdicts_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
