/* plain libraft 0.15 fixture: deposed leader with an uncommitted tail never repaired? */
#include <raft.h>
#include <raft/fixture.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
static int ap(struct raft_fsm *f, const struct raft_buffer *b, void **r){(void)f;(void)b;*r=NULL;return 0;}
static int snap(struct raft_fsm *f, struct raft_buffer *b[], unsigned *n){(void)f;(void)b;(void)n;return RAFT_BUSY;}
static int rest(struct raft_fsm *f, struct raft_buffer *b){(void)f;raft_free(b->base);return 0;}
static void cb(struct raft_apply *a, int s, void *r){(void)r; *(int*)a->data = s;}
static unsigned find_leader(struct raft_fixture *f, unsigned not){unsigned best=f->n; raft_term t=0; for(unsigned i=0;i<f->n;i++){struct raft*r=raft_fixture_get(f,i); if(i!=not && raft_state(r)==RAFT_LEADER && r->current_term>t){best=i;t=r->current_term;}} return best;}
static raft_index put(struct raft_fixture *f, unsigned l, struct raft_apply *a, int *st){struct raft_buffer b={raft_malloc(8),8}; memset(b.base,0,8); a->data=st; *st=-1; if(raft_apply(raft_fixture_get(f,l),a,&b,1,cb)) abort(); return a->index;}
int main(void){
 struct raft_fixture *f = calloc(1,sizeof *f);
 struct raft_fsm fsm[3]; memset(fsm,0,sizeof fsm);
 raft_fixture_initialize(f);
 for(int i=0;i<3;i++){fsm[i].version=1;fsm[i].apply=ap;fsm[i].snapshot=snap;fsm[i].restore=rest;raft_fixture_grow(f,&fsm[i]);}
 struct raft_configuration conf; raft_fixture_configuration(f,3,&conf); raft_fixture_bootstrap(f,&conf); raft_configuration_close(&conf);
 raft_fixture_start(f); raft_fixture_step_until_has_leader(f,10000);
 unsigned old = raft_fixture_leader_index(f);
 struct raft_apply a1,a2,a3; int s1,s2,s3;
 raft_index i1 = put(f,old,&a1,&s1); raft_fixture_step_until_applied(f,3,i1,10000);
 for(unsigned j=0;j<3;j++) if(j!=old) raft_fixture_disconnect(f,old,j);
 put(f,old,&a2,&s2);  /* stays on the isolated leader only */
 unsigned nl=f->n; for(int k=0;k<2000 && (nl=find_leader(f,old))==f->n;k++) raft_fixture_step(f);
 printf("old=%u new leader=%u s2=%d\n", old, nl, s2);
 for(unsigned j=0;j<3;j++) if(j!=old) raft_fixture_reconnect(f,old,j);
 raft_index i3 = put(f,nl,&a3,&s3);
 raft_fixture_step_until_elapsed(f,20000);
 for(unsigned j=0;j<3;j++){struct raft*r=raft_fixture_get(f,j); printf("server %u state %d term %llu applied %llu (want %llu)\n", j, raft_state(r),(unsigned long long)r->current_term,(unsigned long long)raft_last_applied(r),(unsigned long long)i3);}
 return 0;}
